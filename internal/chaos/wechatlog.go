package chaos

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// tokenCall is one stable_token (or WeCom gettoken) request a refresher made, as its client
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
	// wecomIDs maps corpid NUL secret to the WeCom app's credential id:
	// gettoken names the app by its secret.
	wecomIDs map[string]string

	mu    sync.Mutex
	calls []tokenCall
}

func (l *tokenCallLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/cgi-bin/gettoken" {
		q := r.URL.Query()
		return l.record(r, tokenCall{AppID: l.wecomIDs[q.Get("corpid")+"\x00"+q.Get("corpsecret")], At: l.now()})
	}
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
	return l.record(r, tokenCall{AppID: req.AppID, Force: req.Force, At: l.now()})
}

// record makes the call and logs whether it was answered with a token.
func (l *tokenCallLog) record(r *http.Request, call tokenCall) (*http.Response, error) {
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
