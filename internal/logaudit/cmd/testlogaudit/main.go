// Command testlogaudit reads `go test -json` on stdin, prints what a plain
// `go test` would (package results, the output of failed tests) and scans
// every line every test wrote, passed or failed, for credentials: anything
// shaped like a WeChat access_token or ticket (logaudit.TokenShape) and the
// secrets of the sample documents in examples/local. It exits 1 when a
// test failed or a line holds a credential:
//
//	set -o pipefail; go test -json ./... | go run ./internal/logaudit/cmd/testlogaudit
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/wxcentral/wxcentral/internal/logaudit"
)

func main() {
	sc := logaudit.NewScanner()
	sc.AddPattern("access_token or ticket", logaudit.TokenShape)
	if err := addSamples(sc); err != nil {
		fmt.Fprintln(os.Stderr, "testlogaudit:", err)
		os.Exit(2)
	}
	res, err := logaudit.AuditTestJSON(os.Stdin, os.Stdout, sc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testlogaudit:", err)
		os.Exit(2)
	}
	for _, f := range res.Findings {
		fmt.Printf("log audit: %s %s\n", f.Source, f.Kind)
	}
	fmt.Printf("log audit: %d lines of test output scanned for %v: %d findings\n", res.Lines, sc.Counts(), len(res.Findings))
	if res.Failed || len(res.Findings) > 0 {
		os.Exit(1)
	}
}

// addSamples registers the secrets of examples/local (used by `make run`
// and several tests), when run from the module root.
func addSamples(sc *logaudit.Scanner) error {
	var apps struct {
		Apps []struct{ Secret string } `json:"apps"`
	}
	var cb struct {
		Apps []struct {
			Token          string `json:"token"`
			EncodingAESKey string `json:"encoding_aes_key"`
		} `json:"apps"`
	}
	for _, d := range []struct {
		path string
		into any
	}{{"examples/local/apps.json", &apps}, {"examples/local/callback.json", &cb}} {
		data, err := os.ReadFile(d.path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, d.into); err != nil {
			return fmt.Errorf("%s: %w", d.path, err)
		}
	}
	for _, a := range apps.Apps {
		if err := sc.Add("AppSecret (examples/local)", a.Secret); err != nil {
			return err
		}
	}
	for _, a := range cb.Apps {
		if err := sc.Add("callback token (examples/local)", a.Token); err != nil {
			return err
		}
		if a.EncodingAESKey != "" {
			if err := sc.AddEncodingAESKey(a.EncodingAESKey); err != nil {
				return err
			}
		}
	}
	return nil
}
