package callback

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback/internal/xmlscan"
)

const common = `<ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>1714112445</CreateTime>`

func TestParseMessageTypes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want any
	}{
		{"text", `<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好 & <b>]]></Content><MsgId>1</MsgId><MsgDataId>9</MsgDataId><Idx>2</Idx>`,
			TextMessage{Content: "你好 & <b>", MsgDataID: "9", Idx: "2"}},
		{"image", `<MsgType>image</MsgType><PicUrl>http://p/x.jpg</PicUrl><MediaId>m1</MediaId><MsgId>2</MsgId>`, ImageMessage{PicURL: "http://p/x.jpg", MediaID: "m1"}},
		{"voice", `<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format><Recognition>腾讯</Recognition><MsgId>3</MsgId>`, VoiceMessage{MediaID: "m", Format: "amr", Recognition: "腾讯"}},
		{"video", `<MsgType>video</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>4</MsgId>`, VideoMessage{MediaID: "m", ThumbMediaID: "t"}},
		{"shortvideo", `<MsgType>shortvideo</MsgType><MediaId>m</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>5</MsgId>`, VideoMessage{MediaID: "m", ThumbMediaID: "t"}},
		{"location", `<MsgType>location</MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>6</MsgId>`,
			LocationMessage{LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "位置信息"}},
		{"link", `<MsgType>link</MsgType><Title>T</Title><Description>D</Description><Url>http://u</Url><MsgId>7</MsgId>`, LinkMessage{Title: "T", Description: "D", URL: "http://u"}},
		{"subscribe qr", `<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_123</EventKey><Ticket>TK</Ticket>`, SubscribeEvent{EventKey: "qrscene_123", Ticket: "TK"}},
		{"unsubscribe", `<MsgType>event</MsgType><Event>unsubscribe</Event>`, UnsubscribeEvent{}},
		{"SCAN", `<MsgType>event</MsgType><Event>SCAN</Event><EventKey>123</EventKey><Ticket>TK</Ticket>`, ScanEvent{EventKey: "123", Ticket: "TK"}},
		{"LOCATION", `<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>`,
			LocationEvent{Latitude: 23.137466, Longitude: 113.352425, Precision: 119.38504}},
		{"CLICK", `<MsgType>event</MsgType><Event>CLICK</Event><EventKey>V1001_TODAY_MUSIC</EventKey>`, ClickEvent{EventKey: "V1001_TODAY_MUSIC"}},
		{"VIEW", `<MsgType>event</MsgType><Event>VIEW</Event><EventKey>http://www.qq.com/</EventKey><MenuId>7</MenuId>`, ViewEvent{EventKey: "http://www.qq.com/", MenuID: "7"}},
		{"TEMPLATESENDJOBFINISH", `<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>200163836</MsgID><Status>success</Status>`,
			TemplateSendJobFinishEvent{MsgID: "200163836", Status: "success"}},
		{"MASSSENDJOBFINISH", `<MsgType>event</MsgType><Event>MASSSENDJOBFINISH</Event><MsgID>1988</MsgID><Status>sendsuccess</Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount><CopyrightCheckResult><Count>0</Count><ResultList/><CheckState>1</CheckState></CopyrightCheckResult>`,
			MassSendJobFinishEvent{MsgID: "1988", Status: "sendsuccess", TotalCount: 100, FilterCount: 80, SentCount: 75, ErrorCount: 5}},
		{"scancode_push", `<MsgType>event</MsgType><Event>scancode_push</Event><EventKey>6</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>1</ScanResult></ScanCodeInfo>`,
			ScanCodeEvent{EventKey: "6", ScanType: "qrcode", ScanResult: "1"}},
		{"scancode_waitmsg", `<MsgType>event</MsgType><Event>scancode_waitmsg</Event><EventKey>6</EventKey><ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>2</ScanResult></ScanCodeInfo>`,
			ScanCodeEvent{EventKey: "6", ScanType: "qrcode", ScanResult: "2"}},
		{"pic_sysphoto", "<MsgType>event</MsgType><Event>pic_sysphoto</Event><EventKey>6</EventKey><SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum>1b5f7c23b5bf75682a53e7b6d163e185</PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>",
			PicEvent{EventKey: "6", Count: 1, PicMD5Sums: []string{"1b5f7c23b5bf75682a53e7b6d163e185"}}},
		{"pic_photo_or_album", `<MsgType>event</MsgType><Event>pic_photo_or_album</Event><EventKey>6</EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item></PicList></SendPicsInfo>`,
			PicEvent{EventKey: "6", Count: 2, PicMD5Sums: []string{"a", "b"}}},
		{"pic_weixin", `<MsgType>event</MsgType><Event>pic_weixin</Event><EventKey>6</EventKey><SendPicsInfo><Count>0</Count><PicList></PicList></SendPicsInfo>`, PicEvent{EventKey: "6"}},
		{"location_select", `<MsgType>event</MsgType><Event>location_select</Event><EventKey>6</EventKey><SendLocationInfo><Location_X>23</Location_X><Location_Y>113</Location_Y><Scale>15</Scale><Label>广州</Label><Poiname></Poiname></SendLocationInfo>`,
			LocationSelectEvent{EventKey: "6", LocationX: 23, LocationY: 113, Scale: 15, Label: "广州"}},
		{"view_miniprogram", `<MsgType>event</MsgType><Event>view_miniprogram</Event><EventKey>pages/index/index</EventKey><MenuId>MENUID</MenuId>`, ViewMiniprogramEvent{EventKey: "pages/index/index", MenuID: "MENUID"}},
		{"unknown event", `<MsgType>event</MsgType><Event>debug_demo</Event><debug_str>hello</debug_str>`, nil},
		{"unknown type", `<MsgType>miniprogrampage</MsgType><Title>x</Title><MsgId>8</MsgId>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "<xml>" + common + tt.body + "</xml>"
			m, err := ParseMessage([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.ToUserName != "gh_10f6c3c3ac5a" || m.FromUserName != "oUser" || m.CreateTime != 1714112445 || m.Raw != raw {
				t.Fatalf("common fields: %+v", m)
			}
			if got := m.Typed(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Typed() = %#v, want %#v", got, tt.want)
			}
			ref, err := xmlscan.Reference([]byte(raw))
			if err != nil || !reflect.DeepEqual(ref, m.Fields) {
				t.Fatalf("fields differ from encoding/xml: %v\nfast %+v\nref  %+v", err, m.Fields, ref)
			}
		})
	}
}

func TestParseKeepsUnknownFields(t *testing.T) {
	m, err := ParseMessage([]byte("<xml>" + common + `<MsgType>event</MsgType><Event>debug_demo</Event><debug_str>hello world</debug_str><Nested><a>1</a><a>2</a></Nested></xml>`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Get("debug_str") != "hello world" || len(m.Children("Nested")) != 2 || m.Children("Nested")[1].Value != "2" {
		t.Fatalf("fields lost: %+v", m.Fields)
	}
}

func TestDedupeKey(t *testing.T) {
	click := `<xml><FromUserName>u</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>k</EventKey></xml>`
	weird := `<xml><FromUserName>u</FromUserName><MsgType>weird</MsgType></xml>`
	tests := []struct{ body, want string }{
		{`<xml><FromUserName>u</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType><MsgId>42</MsgId></xml>`, "42"},
		// Template and mass-send results carry their id as MsgID.
		{`<xml><FromUserName>u</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>7</MsgID><Status>success</Status></xml>`, "7"},
		{`<xml><MsgID>8</MsgID><MsgId>9</MsgId></xml>`, "9"},
		{click, "u|5|" + sha256Hex(click)[:16]},
		{weird, "u||" + sha256Hex(weird)[:16]},
	}
	for _, tt := range tests {
		m, err := ParseMessage([]byte(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.DedupeKey(); got != tt.want {
			t.Errorf("DedupeKey = %q, want %q", got, tt.want)
		}
	}
}

// Two different events of one user in one second never share a key; the
// same plaintext (WeChat's retry) always does (docs/dynamodb.md).
func TestDedupeKeyDistinguishesEventsOfOneSecond(t *testing.T) {
	pushes := []string{
		"<xml>" + common + `<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>100</MsgID><Status>success</Status></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>TEMPLATESENDJOBFINISH</Event><MsgID>101</MsgID><Status>success</Status></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>MASSSENDJOBFINISH</Event><MsgID>102</MsgID><Status>send success</Status></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>user_get_card</Event><CardId>c1</CardId><UserCardCode>1</UserCardCode></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>user_get_card</Event><CardId>c1</CardId><UserCardCode>2</UserCardCode></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>a</TemplateId></List></SubscribeMsgSentEvent></xml>`,
		"<xml>" + common + `<MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>b</TemplateId></List></SubscribeMsgSentEvent></xml>`,
	}
	seen := map[string]int{}
	for i, p := range pushes {
		m, err := ParseMessage([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		k := m.DedupeKey()
		if j, dup := seen[k]; dup {
			t.Errorf("pushes %d and %d share the key %q", j, i, k)
		}
		seen[k] = i
		again, _ := ParseMessage([]byte(p))
		if again.DedupeKey() != k {
			t.Errorf("push %d: the same plaintext gives %q and %q", i, k, again.DedupeKey())
		}
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, body string
		want       error
	}{
		{"empty", "", ErrNotXML},
		{"not xml", "hello", ErrNotXML},
		{"json", `{"ToUserName":"x"}`, ErrNotXML},
		{"unclosed", "<xml><a>1</a>", ErrNotXML},
		{"mismatched", "<xml><a>1</b></xml>", ErrNotXML},
		{"two roots", "<xml/><xml/>", ErrNotXML},
		{"trailing text", "<xml/>junk", ErrNotXML},
		{"doctype", `<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>`, ErrDoctype},
		{"entity decl only", `<!ENTITY x SYSTEM "file:///etc/passwd"><xml/>`, ErrDoctype},
		{"undeclared entity", `<xml><a>&x;</a></xml>`, ErrNotXML},
		{"bad CreateTime", `<xml><CreateTime>soon</CreateTime></xml>`, ErrMalformed},
		{"invalid utf-8", "<xml><a>\xff</a></xml>", ErrNotXML},
		{"control char", "<xml><a>\x01</a></xml>", ErrNotXML},
		{"too deep", strings.Repeat("<a>", xmlscan.MaxDepth+1) + strings.Repeat("</a>", xmlscan.MaxDepth+1), ErrNotXML},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(tt.body))
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// A push that repeats a top-level element is read one way everywhere: the
// first occurrence wins for the typed fields, Get, routing and the
// `fields` map of the published detail (issue 11, item 7).
func TestRepeatedTopLevelElementsFirstWins(t *testing.T) {
	body := "<xml>" + common + `<MsgType>text</MsgType><Content>first</Content><MsgId>1</MsgId>` +
		`<FromUserName>intruder</FromUserName><CreateTime>99</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>` +
		`<EventKey>k1</EventKey><EventKey>k2</EventKey><Content>second</Content><MsgId>2</MsgId><ToUserName>gh_other</ToUserName></xml>`
	m, err := ParseMessage([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	typed := map[string]string{"ToUserName": m.ToUserName, "FromUserName": m.FromUserName, "MsgType": m.MsgType,
		"Content": m.Content, "MsgId": m.MsgID, "EventKey": m.EventKey}
	want := map[string]string{"ToUserName": "gh_10f6c3c3ac5a", "FromUserName": "oUser", "MsgType": "text",
		"Content": "first", "MsgId": "1", "EventKey": "k1"}
	for name, w := range want {
		if typed[name] != w || m.Get(name) != w {
			t.Errorf("%s: typed %q, Get %q, want %q", name, typed[name], m.Get(name), w)
		}
	}
	if m.CreateTime != 1714112445 {
		t.Errorf("CreateTime %d", m.CreateTime)
	}
	if tm, ok := m.Typed().(TextMessage); !ok || tm.Content != "first" {
		t.Errorf("Typed %#v", m.Typed())
	}
	mux := NewMux()
	mux.HandleFunc(Match{MsgType: MsgTypeText, Content: "first"}, func(context.Context, *Message) (Reply, error) { return nil, nil })
	if mux.Lookup(m) == nil {
		t.Error("routing does not see the first MsgType and Content")
	}
	p, err := NewPush(m)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Fields map[string]any `json:"fields"`
	}
	if err := json.Unmarshal(p.Detail, &d); err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if d.Fields[name] != w {
			t.Errorf("fields[%s] = %v, want %q", name, d.Fields[name], w)
		}
	}
}
