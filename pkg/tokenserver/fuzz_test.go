package tokenserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenserver"
)

// fuzzServer serves one app from memory; invalidations answer a new token.
func fuzzServer() *tokenserver.Server {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	reader := tokenclient.ReaderFunc(func(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
		if appid != "wxok" {
			return credential.Credential{}, credential.ErrNotFound
		}
		return credential.Credential{AppID: appid, Kind: kind, Value: "tok", ExpiresAt: now.Add(time.Hour), Version: 1}, nil
	})
	inv := tokenclient.InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, _ string) (credential.Credential, error) {
		if appid != "wxok" {
			return credential.Credential{}, &tokenclient.RefreshError{Code: tokenapi.CodeUnknownApp}
		}
		return credential.Credential{AppID: appid, Kind: kind, Value: "tok2", ExpiresAt: now.Add(2 * time.Hour), Version: 2}, nil
	})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tc := tokenclient.New(reader, tokenclient.WithClock(clock), tokenclient.WithInvalidator(inv), tokenclient.WithLogger(quiet))
	return tokenserver.New(tc, tokenserver.WithClock(clock), tokenserver.WithLogger(quiet))
}

// checkAnswer: every answer is a JSON object that is either the six
// credential fields or exactly {"error","message"}.
func checkAnswer(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer %q is not a JSON object: %v", body, err)
	}
	if _, isErr := m["error"]; isErr {
		if len(m) != 2 || m["message"] == "" {
			t.Fatalf("error answer %v", m)
		}
	} else if len(m) != 6 || m["token"] == nil {
		t.Fatalf("credential answer %v", m)
	}
	return m
}

func FuzzInvoke(f *testing.F) {
	for _, s := range []string{`{"appid":"wxok"}`, `{"appid":"wxok","kind":"jsapi_ticket"}`, `{"action":"invalidate","appid":"wxok","token":"t"}`,
		`{"appid":5}`, `[]`, `null`, `{"action":"x"}`, `{"appid":"wxok","kind":"\u0000"}`, `"s"`, ``} {
		f.Add([]byte(s))
	}
	srv := fuzzServer()
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := srv.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("function error %v for %q", err, payload)
		}
		checkAnswer(t, out)
	})
}

func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "/token", "appid=wxok&kind=access_token", "")
	f.Add("POST", "/token/invalidate", "", `{"appid":"wxok","token":"t"}`)
	f.Add("POST", "/token/invalidate", "", `{"appid":`)
	f.Add("GET", "/token", "appid=%zz", "")
	f.Add("PUT", "/x", "a=b", "")
	srv := fuzzServer()
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		// The server reads only these fields; build the request directly so
		// that any method and path reach it.
		req := (&http.Request{Method: method, URL: &url.URL{Path: path, RawQuery: query},
			Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}).WithContext(context.Background())
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s?%s: status %d for client input", method, path, query, w.Code)
		}
		checkAnswer(t, w.Body.Bytes())
	})
}

// A forced refresh that outlasts the invocation ends in a 503 answer just
// before the Lambda deadline, not in a function timeout.
func TestHandleAnswersBeforeDeadline(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	release := make(chan struct{})
	defer close(release)
	reader := tokenclient.ReaderFunc(func(_ context.Context, appid string, kind credential.Kind) (credential.Credential, error) {
		return credential.Credential{AppID: appid, Kind: kind, Value: "tok", ExpiresAt: now.Add(time.Hour), Version: 1}, nil
	})
	slow := tokenclient.InvalidatorFunc(func(context.Context, string, credential.Kind, string) (credential.Credential, error) {
		<-release // a refresher stuck waiting for a lease
		return credential.Credential{}, &tokenclient.RefreshError{Code: tokenapi.CodeTokenUnavailable}
	})
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := tokenserver.New(tokenclient.New(reader, tokenclient.WithClock(func() time.Time { return now }),
		tokenclient.WithInvalidator(slow), tokenclient.WithLogger(quiet)), tokenserver.WithLogger(quiet),
		tokenserver.WithClock(func() time.Time { return now }))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := srv.Handle(ctx, json.RawMessage(`{"action":"invalidate","appid":"wxok","token":"tok"}`))
	if err != nil {
		t.Fatalf("function error %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Handle returned only after the invocation deadline")
	}
	m := checkAnswer(t, out.(json.RawMessage))
	if m["error"] != "token_unavailable" {
		t.Fatalf("answer %v, want token_unavailable", m)
	}
}
