package chaos

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// tokenCall is one stable_token request a refresher made, as its client
// saw it.
type tokenCall struct {
	AppID string
	Force bool
	At    time.Time // virtual
	OK    bool      // WeChat answered with a token
}

// tokenCallLog is an http.RoundTripper recording every stable_token call
// of the refreshers (WeChat's counters cannot tell an answered call from
// one that got an injected fault).
type tokenCallLog struct {
	base http.RoundTripper
	now  func() time.Time

	mu    sync.Mutex
	calls []tokenCall
}

func (l *tokenCallLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/cgi-bin/stable_token" || r.Body == nil {
		return l.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req struct {
		AppID string `json:"appid"`
		Force bool   `json:"force_refresh"`
	}
	_ = json.Unmarshal(body, &req)
	call := tokenCall{AppID: req.AppID, Force: req.Force, At: l.now()}
	resp, err := l.base.RoundTrip(r)
	if err == nil {
		data, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		var ans struct {
			AccessToken string `json:"access_token"`
		}
		if rerr != nil {
			resp, err = nil, rerr
		} else {
			call.OK = resp.StatusCode == http.StatusOK && json.Unmarshal(data, &ans) == nil && ans.AccessToken != ""
		}
	}
	l.mu.Lock()
	l.calls = append(l.calls, call)
	l.mu.Unlock()
	return resp, err
}

func (l *tokenCallLog) all() []tokenCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tokenCall(nil), l.calls...)
}
