package eventbus_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/eventbus"
)

const (
	app   = "wx0123456789abcdef"
	token = "t0ken"
	key   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	bus   = "wxcentral-test"
)

func TestPublish(t *testing.T) {
	s := fakeaws.New(t)
	p := eventbus.New(eventbridge.NewFromConfig(s.AWSConfig()), bus)
	ctx := context.Background()
	detail := `{"appid":"wx0123456789abcdef","msg_type":"text","raw_xml":"<xml/>"}`
	if err := p.Publish(ctx, callback.Push{AppID: app, DetailType: callback.DetailTypeMessage, Detail: []byte(detail)}); err != nil {
		t.Fatal(err)
	}
	ev := s.Events()
	if len(ev) != 1 || ev[0].Source != "wxcentral" || ev[0].DetailType != "WeChat Message" || ev[0].EventBusName != bus || string(ev[0].Detail) != detail {
		t.Fatalf("events %+v", ev)
	}
	for _, mode := range []fakeaws.PutFailure{fakeaws.PutEventsPartialFailure, fakeaws.PutEventsServerError} {
		s.FailPutEvents(mode, 3)
		err := p.Publish(ctx, callback.Push{AppID: app, DetailType: callback.DetailTypeEvent, Detail: []byte(`{}`)})
		if err == nil {
			t.Fatalf("%v: publish succeeded", mode)
		}
		if mode == fakeaws.PutEventsPartialFailure && !errors.Is(err, eventbus.ErrRejected) {
			t.Fatalf("%v: %v", mode, err)
		}
		s.FailPutEvents(mode, 0)
	}
	if len(s.Events()) != 1 {
		t.Fatalf("failed publishes recorded events: %d", len(s.Events()))
	}
}

// The callback handler publishes through the real EventBridge client before
// it answers, and a failed publish is a 503 that releases the claim.
func TestHandlerPublishesBeforeAnswering(t *testing.T) {
	s := fakeaws.New(t)
	var runs atomic.Int32
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		runs.Add(1)
		return callback.TextReply{Content: "got it"}, nil
	})
	now := time.Unix(1714112445, 0)
	h, err := callback.NewHandler(callback.Options{
		Config:    callback.StaticConfig(&callback.Config{Apps: []callback.AppConfig{{AppID: app, Token: token, EncodingAESKey: key}}}),
		Routes:    mux,
		Store:     callback.NewMemoryStore(),
		Publisher: eventbus.New(eventbridge.NewFromConfig(s.AWSConfig()), bus),
		Clock:     func() time.Time { return now },
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	snd := &callbacktest.Sender{AppID: app, Token: token, EncodingAESKey: key, Now: func() time.Time { return now }}
	msg := snd.Text("oUser", now.Unix(), 42, "hello")

	for _, mode := range []fakeaws.PutFailure{fakeaws.PutEventsPartialFailure, fakeaws.PutEventsServerError} {
		s.FailPutEvents(mode, 3) // the SDK retries server errors up to 3 attempts
		req, _ := snd.Push(msg)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 503 || runs.Load() != 0 || len(s.Events()) != 0 {
			t.Fatalf("%v: status %d, runs %d, events %d", mode, w.Code, runs.Load(), len(s.Events()))
		}
		s.FailPutEvents(mode, 0)
	}

	req, nonce := snd.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 || runs.Load() != 1 {
		t.Fatalf("after failures: %d, runs %d", w.Code, runs.Load())
	}
	if _, err := snd.OpenReply(w.Body.Bytes(), nonce); err != nil {
		t.Fatal(err)
	}
	// By the time the 200 is written the event is on the bus.
	ev := s.Events()
	if len(ev) != 1 || ev[0].DetailType != "WeChat Message" || ev[0].Source != "wxcentral" {
		t.Fatalf("events %+v", ev)
	}
	var d map[string]any
	if err := json.Unmarshal(ev[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d["appid"] != app || d["msg_type"] != "text" || d["msg_id"] != "42" || d["from"] != "oUser" || d["create_time"] != float64(now.Unix()) ||
		d["raw_xml"] != msg || d["fields"].(map[string]any)["Content"] != "hello" {
		t.Fatalf("detail %s", ev[0].Detail)
	}
	if _, ok := d["event"]; ok {
		t.Fatal("absent event was not omitted")
	}
	// A retry of the acknowledged push is not published again.
	req, _ = snd.Push(msg)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if len(s.Events()) != 1 || runs.Load() != 1 {
		t.Fatalf("duplicate published or handled: %d events, %d runs", len(s.Events()), runs.Load())
	}
}

// A signed push whose detail would exceed the PutEvents entry limit (256
// KiB: its EventKey appears three times, each character escaped to two
// bytes) is published with raw_xml cut short and raw_xml_truncated, and
// answered 200, never a permanent 503 (issue 11, item 6).
func TestOversizedDetailIsTruncated(t *testing.T) {
	s := fakeaws.New(t)
	now := time.Unix(1714112445, 0)
	h, err := callback.NewHandler(callback.Options{
		Config:    callback.StaticConfig(&callback.Config{Apps: []callback.AppConfig{{AppID: app, Token: token, EncodingAESKey: key}}}),
		Store:     callback.NewMemoryStore(),
		Publisher: eventbus.New(eventbridge.NewFromConfig(s.AWSConfig()), bus),
		Clock:     func() time.Time { return now },
		Logger:    slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	snd := &callbacktest.Sender{AppID: app, Token: token, EncodingAESKey: key, Now: func() time.Time { return now }}
	msg := snd.Event("oUser", now.Unix(), callback.EventClick, strings.Repeat(`"`, 44000))
	req, _ := snd.Push(msg)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("status %d %q", w.Code, w.Body.String())
	}
	ev := s.Events()
	if len(ev) != 1 {
		t.Fatalf("%d events", len(ev))
	}
	if size := len(ev[0].Source) + len(ev[0].DetailType) + len(ev[0].Detail); size > 256*1024 {
		t.Fatalf("entry of %d bytes", size)
	}
	var d struct {
		RawXML    string            `json:"raw_xml"`
		Truncated bool              `json:"raw_xml_truncated"`
		EventKey  string            `json:"event_key"`
		Fields    map[string]string `json:"fields"`
	}
	if err := json.Unmarshal(ev[0].Detail, &d); err != nil {
		t.Fatal(err)
	}
	if !d.Truncated || d.RawXML == "" || len(d.RawXML) >= len(msg) || !strings.HasPrefix(msg, d.RawXML) {
		t.Fatalf("truncated %v, raw_xml of %d bytes (push %d)", d.Truncated, len(d.RawXML), len(msg))
	}
	if d.EventKey != strings.Repeat(`"`, 44000) || d.Fields["EventKey"] != d.EventKey {
		t.Fatal("event_key or fields were cut")
	}
}
