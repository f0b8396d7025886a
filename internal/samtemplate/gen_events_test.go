package samtemplate

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

var update = flag.Bool("update", false, "rewrite the generated sample events in events/")

// sampleApp is one app of examples/local/callback.json (docs/secrets.md).
type sampleApp struct {
	Type                   string `json:"type,omitempty"` // "": the Official Account the events are for
	AppID                  string `json:"appid"`
	CorpID                 string `json:"corpid,omitempty"`
	Agent                  string `json:"agent,omitempty"`
	DataFormat             string `json:"data_format,omitempty"`
	Token                  string `json:"token"`
	EncodingAESKey         string `json:"encoding_aes_key"`
	PreviousEncodingAESKey string `json:"previous_encoding_aes_key,omitempty"`
	Mode                   string `json:"mode"`
	Welcome                string `json:"welcome"`
	AutoReplies            []struct {
		Match  string `json:"match,omitempty"`
		Prefix string `json:"prefix,omitempty"`
		Reply  string `json:"reply"`
	} `json:"auto_replies"`
}

func loadSampleCallback(t testing.TB) sampleApp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "local", "callback.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Apps []sampleApp `json:"apps"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("examples/local/callback.json: %v", err)
	}
	// The events are signed for the sample's Official Account; its
	// mini-program and WeCom app are `wxcentral send`'s (cli tests).
	var oa []sampleApp
	for _, a := range doc.Apps {
		if a.Type == "" {
			oa = append(oa, a)
		}
	}
	if len(oa) != 1 {
		t.Fatalf("examples/local/callback.json: %d Official Accounts, want 1", len(oa))
	}
	return oa[0]
}

// loadSamplePlatform is the third-party platform of
// examples/local/callback.json (its component entry).
func loadSamplePlatform(t testing.TB) callback.AppConfig {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "local", "callback.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := callback.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.Apps {
		if a.Type == callback.TypeComponent {
			return a
		}
	}
	t.Fatal("examples/local/callback.json has no component entry")
	return callback.AppConfig{}
}

// componentTicketPush is the push WeChat makes to the sample platform's
// authorization-event URL with a component_verify_ticket.
func componentTicketPush(t testing.TB, p callback.AppConfig, requestID, nonce string) httpAPIEvent {
	t.Helper()
	c, err := callback.NewCipher(p.EncodingAESKey, p.AppID)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.Itoa(sampleTimestamp)
	msg := "<xml><AppId><![CDATA[" + p.AppID + "]]></AppId>\n<CreateTime>" + ts + "</CreateTime>\n" +
		"<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n" +
		"<ComponentVerifyTicket><![CDATA[ticket@@@wxcentralSampleVerifyTicket]]></ComponentVerifyTicket>\n</xml>"
	var random [16]byte
	sum := sha256.Sum256([]byte("wxcentral sample " + requestID))
	copy(random[:], sum[:])
	encrypt := c.Encrypt(random, []byte(msg))
	body := "<xml><AppId><![CDATA[" + p.AppID + "]]></AppId><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>"
	q := query{
		{"signature", callback.Signature(p.Token, ts, nonce)},
		{"timestamp", ts},
		{"nonce", nonce},
		{"encrypt_type", "aes"},
		{"msg_signature", callback.MsgSignature(p.Token, ts, nonce, encrypt)},
	}
	ev := newCallbackEvent(sampleApp{AppID: p.AppID}, "POST", requestID, q)
	path := "/component/" + p.AppID
	ev.RouteKey, ev.RequestContext.RouteKey = "POST /component/{component_appid}", "POST /component/{component_appid}"
	ev.RawPath, ev.RequestContext.HTTP.Path = path, path
	ev.PathParameters = map[string]string{"component_appid": p.AppID}
	ev.Headers["content-length"] = strconv.Itoa(len(body))
	ev.Headers["content-type"] = "text/xml"
	ev.Body = body
	return ev
}

// Wire-format mirror of an API Gateway HTTP API payload 2.0 event, with the
// fields in the order AWS documents them (aws-lambda-go's type would add an
// empty "authentication" object real events do not carry).
type httpAPIEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters"`
	PathParameters        map[string]string `json:"pathParameters"`
	RequestContext        httpAPIContext    `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type httpAPIContext struct {
	AccountID    string      `json:"accountId"`
	APIID        string      `json:"apiId"`
	DomainName   string      `json:"domainName"`
	DomainPrefix string      `json:"domainPrefix"`
	HTTP         httpDetails `json:"http"`
	RequestID    string      `json:"requestId"`
	RouteKey     string      `json:"routeKey"`
	Stage        string      `json:"stage"`
	Time         string      `json:"time"`
	TimeEpoch    int64       `json:"timeEpoch"`
}

type httpDetails struct {
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// Fixed request values: the events must be byte-for-byte reproducible. The
// timestamp is old on purpose; tests that replay them set CALLBACK_MAX_SKEW=0.
const (
	sampleTimestamp = 1700000000
	sampleOpenID    = "oWxcentralSampleUser00000001"
	sampleGhID      = "gh_0123456789ab"
	sampleAPIID     = "a1b2c3d4e5"
	sampleSourceIP  = "203.0.113.10" // TEST-NET-3
)

// query keeps WeChat's parameter order in rawQueryString.
type query [][2]string

func (q query) raw() string {
	var b bytes.Buffer
	for i, kv := range q {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[0]) + "=" + url.QueryEscape(kv[1]))
	}
	return b.String()
}

func (q query) params() map[string]string {
	m := map[string]string{}
	for _, kv := range q {
		m[kv[0]] = kv[1]
	}
	return m
}

func newCallbackEvent(app sampleApp, method, requestID string, q query) httpAPIEvent {
	domain := sampleAPIID + ".execute-api.ap-east-1.amazonaws.com"
	path := "/wechat/" + app.AppID
	return httpAPIEvent{
		Version:        "2.0",
		RouteKey:       method + " /wechat/{appid}",
		RawPath:        path,
		RawQueryString: q.raw(),
		Headers: map[string]string{
			"accept":            "*/*",
			"host":              domain,
			"pragma":            "no-cache",
			"user-agent":        "Mozilla/4.0",
			"x-amzn-trace-id":   "Root=1-6553f0e0-" + strings.ReplaceAll(requestID, "-", "")[:24],
			"x-forwarded-for":   sampleSourceIP,
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		QueryStringParameters: q.params(),
		PathParameters:        map[string]string{"appid": app.AppID},
		RequestContext: httpAPIContext{
			AccountID: "123456789012", APIID: sampleAPIID, DomainName: domain, DomainPrefix: sampleAPIID,
			HTTP:      httpDetails{Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: sampleSourceIP, UserAgent: "Mozilla/4.0"},
			RequestID: requestID, RouteKey: method + " /wechat/{appid}", Stage: "$default",
			Time: "14/Nov/2023:22:13:20 +0000", TimeEpoch: sampleTimestamp * 1000,
		},
	}
}

// safePost builds a safe-mode push of a text message, signed and encrypted
// for app exactly as WeChat does it.
func safePost(t testing.TB, app sampleApp, requestID, nonce, content string, msgID int64, base64Body bool) httpAPIEvent {
	t.Helper()
	c, err := callback.NewCipher(app.EncodingAESKey, app.AppID)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.Itoa(sampleTimestamp)
	msg := "<xml><ToUserName><![CDATA[" + sampleGhID + "]]></ToUserName>\n" +
		"<FromUserName><![CDATA[" + sampleOpenID + "]]></FromUserName>\n" +
		"<CreateTime>" + ts + "</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[" + content + "]]></Content>\n" +
		"<MsgId>" + strconv.FormatInt(msgID, 10) + "</MsgId>\n</xml>"
	// Deterministic "random" prefix so regeneration is reproducible.
	var random [16]byte
	sum := sha256.Sum256([]byte("wxcentral sample " + requestID))
	copy(random[:], sum[:])
	encrypt := c.Encrypt(random, []byte(msg))
	body := "<xml><ToUserName><![CDATA[" + sampleGhID + "]]></ToUserName><Encrypt><![CDATA[" + encrypt + "]]></Encrypt></xml>"
	q := query{
		{"signature", callback.Signature(app.Token, ts, nonce)},
		{"timestamp", ts},
		{"nonce", nonce},
		{"openid", sampleOpenID},
		{"encrypt_type", "aes"},
		{"msg_signature", callback.MsgSignature(app.Token, ts, nonce, encrypt)},
	}
	ev := newCallbackEvent(app, "POST", requestID, q)
	ev.Headers["content-length"] = strconv.Itoa(len(body))
	if base64Body {
		// HTTP API base64-encodes any body whose Content-Type is not text,
		// JSON or XML; the handler must honour isBase64Encoded.
		ev.Headers["content-type"] = "application/octet-stream"
		ev.Body = base64.StdEncoding.EncodeToString([]byte(body))
		ev.IsBase64Encoded = true
	} else {
		ev.Headers["content-type"] = "text/xml"
		ev.Body = body
	}
	return ev
}

// generatedEvents returns the sample events derived from
// examples/local/callback.json, by file name.
func generatedEvents(t testing.TB) map[string][]byte {
	t.Helper()
	app := loadSampleCallback(t)
	ts := strconv.Itoa(sampleTimestamp)
	const nonce = "1866712907"
	get := newCallbackEvent(app, "GET", "c4a9e2f0-1b7d-4e58-9a36-0d2c8f1e7b40", query{
		{"signature", callback.Signature(app.Token, ts, nonce)},
		{"echostr", "5836482917364829174"},
		{"timestamp", ts},
		{"nonce", nonce},
	})
	events := map[string]httpAPIEvent{
		"callback-get.json":              get,
		"callback-post-safe.json":        safePost(t, app, "7e1d3b5a-9c2f-4a60-8e14-b3d5f7091a2c", "405291637", "ping", 24321000000000001, false),
		"callback-post-safe-base64.json": safePost(t, app, "2f8a6c4e-0d1b-4b73-95e2-6a8c0e2d4f61", "937114580", "help me", 24321000000000002, true),
		"callback-component-ticket.json": componentTicketPush(t, loadSamplePlatform(t), "5b0e7d2a-3c4f-4d81-a6b9-1e2f3a4b5c6d", "582937164"),
	}
	out := map[string][]byte{}
	for name, ev := range events {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep the XML body readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
		out[name] = buf.Bytes()
	}
	return out
}

// TestGeneratedEvents keeps the signed callback events in step with
// examples/local/callback.json; -update rewrites them.
func TestGeneratedEvents(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "events")
	for name, want := range generatedEvents(t) {
		file := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(file, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%v (generate it: go test ./internal/samtemplate -run TestGeneratedEvents -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("events/%s is stale; regenerate: go test ./internal/samtemplate -run TestGeneratedEvents -update", name)
		}
	}
}
