package logaudit

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

const aesKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

func TestScan(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(aesKey + "=")
	tests := []struct {
		name string
		text string
		want []string // "line:kind#id"
	}{
		{"clean", `{"msg":"refresh","appid":"wx1","version":3}` + "\n", nil},
		{"secret verbatim", `{"msg":"x","error":"bad secret s3cr3t-value-A"}` + "\n", []string{"1:AppSecret#0"}},
		{"second value of a kind", "ok\nprefix 80_tokenvalue-two suffix\n", []string{"2:access_token#1"}},
		{"json escaped content", `{"content":"hello \u003cb\u003e \"world\" 1234"}` + "\n", []string{"1:message content#0"}},
		{"query escaped content", "GET /x?c=hello+%3Cb%3E+%22world%22+1234\n", []string{"1:message content#0"}},
		{"aes key", "key=" + aesKey + "\n", []string{"1:EncodingAESKey#0"}},
		{"raw aes key base64", "k " + base64.StdEncoding.EncodeToString(raw) + "\n", []string{"1:AES key#0"}},
		{"raw aes key hex", "k " + hex.EncodeToString(raw) + "\n", []string{"1:AES key#1"}},
		{"two secrets one line, no final newline", "80_tokenvalue-one and s3cr3t-value-A", []string{"1:access_token#0", "1:AppSecret#0"}},
		{"a prefix of a secret is not a secret", "s3cr3t-value\n", nil},
	}
	s := NewScanner()
	for _, err := range []error{
		s.Add("AppSecret", "s3cr3t-value-A"),
		s.Add("access_token", "80_tokenvalue-one", "80_tokenvalue-two", ""),
		s.Add("message content", `hello <b> "world" 1234`),
		s.AddEncodingAESKey(aesKey),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range s.Scan("test", tt.text) {
				got = append(got, fmt.Sprintf("%d:%s#%d", f.Line, f.Kind, f.ID))
				if strings.Contains(f.String(), "s3cr3t") || strings.Contains(f.String(), "tokenvalue") {
					t.Errorf("finding %q shows the value", f)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAddRejectsShortValues(t *testing.T) {
	if err := NewScanner().Add("AppSecret", "short"); err == nil || strings.Contains(err.Error(), "short\"") {
		t.Fatalf("err = %v, want an error naming the kind only", err)
	}
	if err := NewScanner().AddEncodingAESKey("not base64 at all, but long enough!!!!!!!!!"); err == nil {
		t.Fatal("a non-base64 EncodingAESKey was accepted")
	}
}

// TestCaptureConcurrent: lines written by many goroutines through slog
// arrive whole.
func TestCaptureConcurrent(t *testing.T) {
	var c Capture
	log := slog.New(slog.NewJSONHandler(&c, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				log.Info("line", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	if n := c.Lines(); n != 800 {
		t.Fatalf("%d lines, want 800", n)
	}
	for _, l := range strings.Split(strings.TrimSuffix(c.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("torn line %q", l)
		}
	}
}
