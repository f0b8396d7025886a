package callback

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestMuxMatching(t *testing.T) {
	mux := NewMux()
	add := func(name string, m Match) {
		mux.HandleFunc(m, func(context.Context, *Message) (Reply, error) { return TextReply{Content: name}, nil })
	}
	add("subscribe-qr", Match{MsgType: MsgTypeEvent, Event: EventSubscribe, EventKeyPrefix: "qrscene_"})
	add("subscribe", Match{MsgType: MsgTypeEvent, Event: EventSubscribe})
	add("click-exact", Match{Event: EventClick, EventKey: "MENU_A"})
	add("text-exact", Match{MsgType: MsgTypeText, Content: "hi"})
	add("text-prefix", Match{MsgType: MsgTypeText, ContentPrefix: "order "})
	add("text-regexp", Match{MsgType: MsgTypeText, ContentRegexp: regexp.MustCompile(`^\d{6}$`)})
	add("image", Match{MsgType: MsgTypeImage})
	tests := []struct {
		m    Message
		want string
	}{
		{Message{MsgType: "event", Event: "subscribe", EventKey: "qrscene_42"}, "subscribe-qr"},
		{Message{MsgType: "event", Event: "subscribe"}, "subscribe"},
		{Message{MsgType: "event", Event: "CLICK", EventKey: "MENU_A"}, "click-exact"},
		{Message{MsgType: "event", Event: "CLICK", EventKey: "MENU_AB"}, ""},
		{Message{MsgType: "text", Content: "hi"}, "text-exact"},
		{Message{MsgType: "text", Content: "hi!"}, ""},
		{Message{MsgType: "text", Content: "order 12"}, "text-prefix"},
		{Message{MsgType: "text", Content: "123456"}, "text-regexp"},
		{Message{MsgType: "text", Content: "1234567"}, ""},
		{Message{MsgType: "image"}, "image"},
		{Message{MsgType: "voice"}, ""},
	}
	for _, tt := range tests {
		r, err := mux.ServeMessage(context.Background(), &tt.m)
		got := ""
		if r != nil {
			got = r.(TextReply).Content
		}
		if err != nil || got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestParseConfig(t *testing.T) {
	const key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	ok := `{"apps":[{"appid":"wx0123456789abcdef","token":"t","encoding_aes_key":"` + key + `","welcome":"hi","auto_replies":[{"match":"a","reply":"b"},{"prefix":"h","reply":"c"}]}]}`
	c, err := ParseConfig([]byte(ok))
	if err != nil || c.Apps[0].Mode != ModeSafe || len(c.Apps[0].AutoReplies) != 2 {
		t.Fatalf("%v %+v", err, c)
	}
	tests := []struct{ doc, field string }{
		{`not json`, "not a JSON document"},
		{`{"apps":[]}`, "apps"},
		{`{"apps":"x"}`, "apps"},
		{`{"apps":[{"token":"t","encoding_aes_key":"` + key + `"}]}`, "apps[0].appid"},
		{`{"apps":[{"appid":"a","encoding_aes_key":"` + key + `"}]}`, "apps[0].token"},
		{`{"apps":[{"appid":"a","token":"t"}]}`, "apps[0].encoding_aes_key"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"SECRETKEYtooshort"}]}`, "apps[0].encoding_aes_key"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `","previous_encoding_aes_key":"SECRET!` + key[7:] + `"}]}`, "apps[0].previous_encoding_aes_key"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `","mode":"SECRETMODE"}]}`, "apps[0].mode"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `"},{"appid":"a","token":"t","encoding_aes_key":"` + key + `"}]}`, "apps[1].appid: duplicate"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `","auto_replies":[{"reply":"x"}]}]}`, "apps[0].auto_replies[0]"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `","auto_replies":[{"match":"x","prefix":"y","reply":"x"}]}]}`, "apps[0].auto_replies[0]"},
		{`{"apps":[{"appid":"a","token":"t","encoding_aes_key":"` + key + `","auto_replies":[{"match":"x"}]}]}`, "apps[0].auto_replies[0].reply"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: err %v, want it to name %q", tt.doc, err, tt.field)
			continue
		}
		if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), key) {
			t.Errorf("error leaks a value: %v", err)
		}
	}
	// Plain mode needs no key.
	if _, err := ParseConfig([]byte(`{"apps":[{"appid":"a","token":"t","mode":"plain"}]}`)); err != nil {
		t.Fatal(err)
	}
}
