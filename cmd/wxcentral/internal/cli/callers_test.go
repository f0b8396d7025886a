package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wxcentral/wxcentral/internal/modroot"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

// Dummy credentials for the caller examples: the local stack ignores the
// signature, the recording proxy below checks it.
const (
	callerKeyID   = "AKIDCALLEREXAMPLE000"
	callerSecret  = "caller-example-secret-key"
	callerSession = "caller-example-session-token"
)

// TestCallerExamples runs the caller examples of examples/callers the way
// docs/callers.md shows them, each against its own local stack: get a token,
// report it rejected (a forced refresh: new token, version + 1), report the
// new one at once (force_too_soon), ask for an unknown app and a bad kind,
// and sign for execute-api. A proxy in front of the stack checks that every
// request carried a valid SigV4 signature for the expected service, so the
// stack is shown to accept signed requests and each example to sign what it
// sends. The Python one must run (CI fails without python3 and botocore);
// the Node one runs where `npm ci` was run in examples/callers/node.
func TestCallerExamples(t *testing.T) {
	root, err := modroot.Dir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "callers")
	t.Run("python", func(t *testing.T) {
		python := pythonWithBotocore(t)
		testCallerExample(t, python, filepath.Join(dir, "python", "wxcentral_token.py"))
	})
	t.Run("node", func(t *testing.T) {
		node, err := exec.LookPath("node")
		if err != nil {
			t.Skipf("node is not installed: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "node", "node_modules", "@smithy", "signature-v4")); err != nil {
			t.Skip("examples/callers/node has no node_modules: run `npm ci` there to include the Node example")
		}
		testCallerExample(t, node, filepath.Join(dir, "node", "wxcentral-token.js"))
	})
}

// testCallerExample runs one example's command line (interpreter, script).
func testCallerExample(t *testing.T, interpreter, script string) {
	d := startDev(t, map[string]string{"WXCENTRAL_STATE": filepath.Join(t.TempDir(), "dev.json")})
	proxy := newSigV4Proxy(t, d.stack.URL)
	appid := d.stack.State.AppID

	type answer = tokenapi.Answer
	// run never logs stdout: it holds tokens.
	run := func(extraEnv []string, stdin string, args ...string) (answer, int, string) {
		t.Helper()
		cmd := exec.CommandContext(d.ctx, interpreter, append([]string{script}, args...)...)
		cmd.Env = append(callerEnv(t, proxy.URL+"/token"), extraEnv...)
		cmd.Stdin = strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s %s: %v", filepath.Base(script), args[0], err)
		}
		var a answer
		if jerr := json.Unmarshal(stdout.Bytes(), &a); jerr != nil {
			t.Fatalf("%s %s: exit %d, stdout is not one JSON answer (%v); stderr:\n%s", filepath.Base(script), args[0], code, jerr, stderr.String())
		}
		return a, code, stderr.String()
	}

	// 1. A token the simulator accepts.
	got, code, stderr := run(nil, "", "get", appid)
	if code != 0 || got.AppID != appid || got.Kind != "access_token" || got.Token == "" || got.Version < 1 || got.ExpiresIn < 7000 {
		t.Fatalf("get: exit %d, appid %q kind %q version %d expires_in %d error %q; stderr:\n%s",
			code, got.AppID, got.Kind, got.Version, got.ExpiresIn, got.Error, stderr)
	}
	if !d.stack.Simulator.Valid(appid, got.Token, time.Now()) {
		t.Error("get: the simulator does not accept the served token")
	}

	// 2. Report it rejected: a forced refresh gives a new token.
	fresh, code, stderr := run(nil, got.Token+"\n", "invalidate", appid)
	if code != 0 || fresh.Version != got.Version+1 || fresh.Token == "" || fresh.Token == got.Token {
		t.Fatalf("invalidate: exit %d, version %d (was %d), new token differs: %v, error %q; stderr:\n%s",
			code, fresh.Version, got.Version, fresh.Token != got.Token, fresh.Error, stderr)
	}
	if !d.stack.Simulator.Valid(appid, fresh.Token, time.Now()) {
		t.Error("invalidate: the simulator does not accept the new token")
	}

	// 3. Reporting the new one within 30 s is refused, as an error answer.
	tooSoon, code, stderr := run(nil, fresh.Token+"\n", "invalidate", appid, "access_token")
	if code != 1 || tooSoon.Error != "force_too_soon" || !strings.Contains(stderr, "HTTP 429") {
		t.Errorf("second invalidate: exit %d, error %q, stderr %q; want exit 1, force_too_soon, HTTP 429", code, tooSoon.Error, stderr)
	}

	// 4. Error answers of GET: unknown app (a WeCom id, whose ":" the query
	// encodes and the signature covers), bad kind.
	if a, code, stderr := run(nil, "", "get", "wwcorp0000000001:1000002"); code != 1 || a.Error != "unknown_app" || !strings.Contains(stderr, "HTTP 404") {
		t.Errorf("get of an unknown app: exit %d, error %q, stderr %q", code, a.Error, stderr)
	}
	if a, code, _ := run(nil, "", "get", appid, "no_such_kind"); code != 1 || a.Error != "bad_request" || !strings.Contains(a.Message, "kind") {
		t.Errorf("get of a bad kind: exit %d, error %q, message %q", code, a.Error, a.Message)
	}

	// 5. The signing service follows WXCENTRAL_SIGNING_SERVICE (HTTP API).
	if a, code, stderr := run([]string{"WXCENTRAL_SIGNING_SERVICE=execute-api"}, "", "get", appid); code != 0 || a.Version != fresh.Version {
		t.Errorf("get signed for execute-api: exit %d, version %d, want %d; stderr:\n%s", code, a.Version, fresh.Version, stderr)
	}

	reqs := proxy.requests()
	if len(reqs) != 6 {
		t.Fatalf("the proxy saw %d requests, want 6", len(reqs))
	}
	for i, r := range reqs {
		wantService := "lambda"
		if i == len(reqs)-1 {
			wantService = "execute-api"
		}
		wantScope := "/us-east-1/" + wantService + "/aws4_request"
		if r.problem != "" || !strings.HasSuffix(r.scope, wantScope) {
			t.Errorf("request %d (%s %s): scope %q (want …%s), signature problem: %q", i+1, r.method, r.path, r.scope, wantScope, r.problem)
		}
	}
}

// pythonWithBotocore returns python3's path, or skips (fails under CI)
// when python3 or botocore is missing.
func pythonWithBotocore(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(python, "-c", "import botocore").Run()
	}
	if err != nil {
		msg := "python3 with botocore is needed to run the Python caller example (pip install botocore): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (skipping; CI fails instead)")
	}
	return python
}

// callerEnv is this process's environment without any AWS or wxcentral
// setting, plus dummy credentials, a region and the token URL.
func callerEnv(t *testing.T, tokenURL string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "WXCENTRAL_") {
			env = append(env, kv)
		}
	}
	dir := t.TempDir()
	return append(env,
		"WXCENTRAL_TOKEN_URL="+tokenURL,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID="+callerKeyID,
		"AWS_SECRET_ACCESS_KEY="+callerSecret,
		"AWS_SESSION_TOKEN="+callerSession,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// signedRequest is what the proxy saw of one request.
type signedRequest struct {
	method, path string
	scope        string // the Credential scope of the Authorization header
	problem      string // "" when the signature verifies
}

// sigV4Proxy forwards to the local stack and verifies each request's SigV4
// signature with the caller's credentials.
type sigV4Proxy struct {
	URL  string
	mu   sync.Mutex
	seen []signedRequest
}

func (p *sigV4Proxy) requests() []signedRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]signedRequest(nil), p.seen...)
}

func newSigV4Proxy(t *testing.T, target string) *sigV4Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &sigV4Proxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		scope, problem := verifySigV4(r, body)
		p.mu.Lock()
		p.seen = append(p.seen, signedRequest{method: r.Method, path: r.URL.Path, scope: scope, problem: problem})
		p.mu.Unlock()
		// Forwarded with every header, the signature ones included.
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// verifySigV4 signs a copy of r holding only the headers r says it signed,
// with the caller's credentials, region and service from r's credential
// scope and r's X-Amz-Date, and compares the signatures.
func verifySigV4(r *http.Request, body []byte) (scope, problem string) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", "no AWS4-HMAC-SHA256 Authorization header"
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	cred := fields["Credential"] // AKID/date/region/service/aws4_request
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] != callerKeyID {
		return cred, "credential scope is not AKID/date/region/service/aws4_request with the caller's key"
	}
	scope = cred
	signingTime, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return scope, "X-Amz-Date: missing or malformed"
	}
	if r.Header.Get("X-Amz-Security-Token") != callerSession {
		return scope, "X-Amz-Security-Token: not the caller's session token"
	}
	u := *r.URL
	u.Scheme, u.Host = "http", r.Host
	clone, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return scope, err.Error()
	}
	clone.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			clone.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: callerKeyID, SecretAccessKey: callerSecret, SessionToken: callerSession}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, clone, hex.EncodeToString(sum[:]), parts[3], parts[2], signingTime); err != nil {
		return scope, err.Error()
	}
	if got := clone.Header.Get("Authorization"); got != auth {
		return scope, "signature does not verify: the signed request differs from the one sent"
	}
	return scope, ""
}
