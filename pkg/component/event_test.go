package component_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/component"
)

// sinkFunc adapts a function to component.EventSink.
type sinkFunc func(ctx context.Context, e component.Event) error

func (f sinkFunc) Event(ctx context.Context, e component.Event) error { return f(ctx, e) }

// authorized, updateauthorized and unauthorized reach the sink parsed, with
// the authorization code for the exchange; nothing is stored as a ticket.
func TestAuthorizationEventsReachTheSink(t *testing.T) {
	var got []component.Event
	e := newEnv(t, func(o *component.Options) {
		o.Events = sinkFunc(func(_ context.Context, ev component.Event) error { got = append(got, ev); return nil })
	})
	const shop = "wxauth0rizer000001"
	code, first, err := e.sim.Authorize(compID, shop)
	if err != nil {
		t.Fatal(err)
	}
	wantSuccess(t, e.deliver(first))
	e.clock.Advance(time.Minute)
	_, again, _ := e.sim.Authorize(compID, shop)
	wantSuccess(t, e.deliver(again))
	gone, _ := e.sim.Unauthorize(compID, shop)
	wantSuccess(t, e.deliver(gone))
	if len(got) != 3 {
		t.Fatalf("sink got %d events, want 3", len(got))
	}
	a := got[0]
	if a.InfoType != component.InfoAuthorized || a.ComponentAppID != compID || a.AuthorizerAppID != shop ||
		a.AuthorizationCode != code || !a.AuthorizationCodeExpiredTime.Equal(first.AuthorizationCodeExpiredTime) ||
		a.PreAuthCode != first.PreAuthCode || !a.CreateTime.Equal(first.CreateTime) {
		t.Fatalf("authorized event %+v, push %+v", a, first)
	}
	if got[1].InfoType != component.InfoUpdateAuthorized || got[1].AuthorizationCode != again.AuthorizationCode {
		t.Fatalf("updateauthorized event %+v", got[1])
	}
	if got[2].InfoType != component.InfoUnauthorized || got[2].AuthorizerAppID != shop || got[2].AuthorizationCode != "" {
		t.Fatalf("unauthorized event %+v", got[2])
	}
	if rec := e.stored(); rec.Value != "" {
		t.Fatalf("an authorization event stored a ticket")
	}
}

// PublisherSink puts each event on the bus as `WeChat Component Event`
// without the authorization code: with the platform token (which every
// reader may fetch) it would buy the authorizer's refresh token.
func TestPublishedEventCarriesNoAuthorizationCode(t *testing.T) {
	e := newEnv(t)
	code, push, _ := e.sim.Authorize(compID, "wxauth0rizer000002")
	wantSuccess(t, e.deliver(push))
	ps := e.sink.pushes()
	if len(ps) != 1 || ps[0].DetailType != component.DetailTypeEvent || ps[0].AppID != compID {
		t.Fatalf("published %+v", ps)
	}
	detail := string(ps[0].Detail)
	if strings.Contains(detail, code) || strings.Contains(detail, push.PreAuthCode) {
		t.Fatalf("the detail carries the authorization or pre-auth code: %s", detail)
	}
	var d struct {
		ComponentAppID  string            `json:"component_appid"`
		InfoType        string            `json:"info_type"`
		AuthorizerAppID string            `json:"authorizer_appid"`
		CreateTime      int64             `json:"create_time"`
		CodeExpires     int64             `json:"authorization_code_expired_time"`
		DedupeKey       string            `json:"dedupe_key"`
		Fields          map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(ps[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.ComponentAppID != compID || d.InfoType != "authorized" || d.AuthorizerAppID != "wxauth0rizer000002" ||
		d.CreateTime != push.CreateTime.Unix() || d.CodeExpires != push.AuthorizationCodeExpiredTime.Unix() ||
		d.DedupeKey == "" || d.Fields["InfoType"] != "authorized" {
		t.Fatalf("detail %s", detail)
	}
}

// A bus that fails answers 503 so that WeChat pushes the event again.
func TestSinkFailureIs503(t *testing.T) {
	e := newEnv(t)
	e.sink.fail = true
	_, push, _ := e.sim.Authorize(compID, "wxauth0rizer000003")
	if w := e.deliver(push); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %q, want 503", w.Code, w.Body)
	}
}
