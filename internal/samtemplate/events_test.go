package samtemplate

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

const sampleAppID = "wx0123456789abcdef"

// eventKinds names the trigger each file in events/ stands for. Every file
// must be listed, so a new sample cannot escape these checks.
var eventKinds = map[string]string{
	"refresh-schedule.json":          "scheduler",
	"refresh-scheduled-event.json":   "eventbridge",
	"refresh-sweep.json":             "refresh-action",
	"refresh-force.json":             "refresh-action",
	"token-get.json":                 "function-url",
	"token-invalidate.json":          "function-url",
	"token-get-httpapi.json":         "token-http-api",
	"token-invoke.json":              "token-invoke",
	"token-invoke-invalidate.json":   "token-invoke",
	"callback-get.json":              "http-api",
	"callback-post-safe.json":        "http-api",
	"callback-post-safe-base64.json": "http-api",
	"callback-component-ticket.json": "component-http-api",
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// tokenRouteKeys are the token HTTP API's routes, set from template.yaml.
var tokenRouteKeys map[string]bool

func TestEventsParse(t *testing.T) {
	tokenRouteKeys = map[string]bool{}
	for _, r := range loadTemplate(t).ResourcesOfType("AWS::ApiGatewayV2::Route") {
		if References(r.Properties["ApiId"], "TokenHttpApi") {
			tokenRouteKeys[fmt.Sprint(r.Properties["RouteKey"])] = true
		}
	}
	dir := filepath.Join(repoRoot(t), "events")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			if e.Name() != "README.md" {
				t.Errorf("events/%s: only .json samples and README.md belong here", e.Name())
			}
			continue
		}
		seen[e.Name()] = true
		kind, ok := eventKinds[e.Name()]
		if !ok {
			t.Errorf("events/%s: not listed in eventKinds", e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(e.Name(), func(t *testing.T) {
			if err := checkEvent(kind, data); err != nil {
				t.Error(err)
			}
		})
	}
	for name := range eventKinds {
		if !seen[name] {
			t.Errorf("events/%s is missing", name)
		}
	}
}

func checkEvent(kind string, data []byte) error {
	switch kind {
	case "scheduler":
		// EventBridge Scheduler delivers its configured Input verbatim; the
		// template configures "{}".
		var m map[string]any
		if err := decodeStrict(data, &m); err != nil {
			return err
		}
		if len(m) != 0 {
			return fmt.Errorf("scheduler input %v, template.yaml configures {}", m)
		}
	case "eventbridge":
		var ev events.EventBridgeEvent
		if err := decodeStrict(data, &ev); err != nil {
			return err
		}
		if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || ev.ID == "" {
			return fmt.Errorf("not a Scheduled Event: %+v", ev)
		}
	case "refresh-action":
		var a tokenapi.ForceRequest
		if err := decodeStrict(data, &a); err != nil {
			return err
		}
		switch a.Action {
		case "sweep":
			if a.AppID != "" || a.Kind != "" || a.StaleToken != "" {
				return errors.New("sweep takes no arguments")
			}
		case "force":
			if a.AppID != sampleAppID || a.Kind != "access_token" || a.StaleToken == "" {
				return fmt.Errorf("force request %+v: want appid, kind access_token and stale_token", a)
			}
		default:
			return fmt.Errorf("action %q", a.Action)
		}
	case "token-invoke":
		var r tokenapi.Request
		if err := decodeStrict(data, &r); err != nil {
			return err
		}
		if r.AppID != sampleAppID || r.Kind != "access_token" {
			return fmt.Errorf("%+v: want the sample appid and kind access_token", r)
		}
		if (r.Action == "invalidate") != (r.Token != "") || (r.Action != "" && r.Action != "invalidate") {
			return fmt.Errorf("%+v: a token belongs with action invalidate only", r)
		}
	case "function-url":
		// Real Function URL events carry fields aws-lambda-go does not model
		// (routeKey, stage, cognitoIdentity): parse leniently, check strictly.
		var ev events.LambdaFunctionURLRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		if ev.Version != "2.0" || ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.IAM == nil {
			return errors.New("want payload 2.0 with an IAM authorizer (AuthType AWS_IAM)")
		}
		if err := checkQuery(ev.RawQueryString, ev.QueryStringParameters); err != nil {
			return err
		}
		if ev.RequestContext.HTTP.Path != ev.RawPath {
			return fmt.Errorf("http.path %q != rawPath %q", ev.RequestContext.HTTP.Path, ev.RawPath)
		}
		switch ev.RawPath {
		case "/token":
			if ev.RequestContext.HTTP.Method != "GET" || ev.QueryStringParameters["appid"] != sampleAppID || ev.QueryStringParameters["kind"] != "access_token" {
				return errors.New("want GET /token?appid=<sample>&kind=access_token")
			}
		case "/token/invalidate":
			var body tokenapi.Request
			if ev.RequestContext.HTTP.Method != "POST" || ev.IsBase64Encoded {
				return errors.New("want POST with a plain JSON body")
			}
			if err := decodeStrict([]byte(ev.Body), &body); err != nil {
				return fmt.Errorf("body: %w", err)
			}
			if body.AppID != sampleAppID || body.Kind != "access_token" || body.Token == "" || body.Action != "" {
				return fmt.Errorf("body %+v", body)
			}
		default:
			return fmt.Errorf("rawPath %q", ev.RawPath)
		}
	case "token-http-api":
		// The token HTTP API (TokenEndpoint=HttpApi and the China regions):
		// the same handler sees payload 2.0 with the route's key.
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		if ev.Version != "2.0" || ev.RequestContext.Authorizer == nil || ev.RequestContext.Authorizer.IAM == nil {
			return errors.New("want payload 2.0 with an IAM authorizer (route AuthorizationType AWS_IAM)")
		}
		if ev.RequestContext.Stage != "$default" || ev.RequestContext.HTTP.Path != ev.RawPath {
			return fmt.Errorf("stage %q, http.path %q, rawPath %q: want the $default stage", ev.RequestContext.Stage, ev.RequestContext.HTTP.Path, ev.RawPath)
		}
		if want := ev.RequestContext.HTTP.Method + " " + ev.RawPath; ev.RouteKey != want || ev.RequestContext.RouteKey != want || !tokenRouteKeys[want] {
			return fmt.Errorf("routeKey %q for %s: want one of the template's token routes %v", ev.RouteKey, want, tokenRouteKeys)
		}
		return checkQuery(ev.RawQueryString, ev.QueryStringParameters)
	case "http-api":
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		var raw map[string]any
		_ = json.Unmarshal(data, &raw)
		if _, has := raw["requestContext"].(map[string]any)["authentication"]; has {
			return errors.New("HTTP API events without mTLS carry no authentication object")
		}
		method := ev.RequestContext.HTTP.Method
		if ev.Version != "2.0" || ev.RouteKey != method+" /wechat/{appid}" || ev.RequestContext.RouteKey != ev.RouteKey {
			return fmt.Errorf("routeKey %q / %q for method %s", ev.RouteKey, ev.RequestContext.RouteKey, method)
		}
		if ev.PathParameters["appid"] != sampleAppID || ev.RawPath != "/wechat/"+sampleAppID || ev.RequestContext.HTTP.Path != ev.RawPath {
			return fmt.Errorf("path %q, pathParameters %v", ev.RawPath, ev.PathParameters)
		}
		return checkQuery(ev.RawQueryString, ev.QueryStringParameters)
	case "component-http-api":
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(data, &ev); err != nil {
			return err
		}
		const route = "POST /component/{component_appid}"
		id := ev.PathParameters["component_appid"]
		if ev.Version != "2.0" || ev.RouteKey != route || ev.RequestContext.RouteKey != route || id == "" ||
			ev.RawPath != "/component/"+id || ev.RequestContext.HTTP.Path != ev.RawPath {
			return fmt.Errorf("routeKey %q, path %q, pathParameters %v", ev.RouteKey, ev.RawPath, ev.PathParameters)
		}
		return checkQuery(ev.RawQueryString, ev.QueryStringParameters)
	default:
		return fmt.Errorf("unknown kind %s", kind)
	}
	return nil
}

// checkQuery verifies that queryStringParameters is rawQueryString parsed.
func checkQuery(raw string, params map[string]string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return err
	}
	if len(q) != len(params) {
		return fmt.Errorf("rawQueryString has %d parameters, queryStringParameters %d", len(q), len(params))
	}
	for k, v := range params {
		if got := q[k]; len(got) != 1 || got[0] != v {
			return fmt.Errorf("queryStringParameters[%s] = %q, rawQueryString has %v", k, v, got)
		}
	}
	return nil
}

// --- an independent implementation of WeChat's callback crypto ----------
// The events are generated with pkg/callback; they are verified here with
// separate code (standard library only) that is itself checked against the
// official vectors below, so a bug in pkg/callback cannot certify itself.

func sha1Sorted(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	sum := sha1.Sum([]byte(strings.Join(s, "")))
	return hex.EncodeToString(sum[:])
}

// openWeChat decrypts an Encrypt field: AES-256-CBC, IV = key[:16], PKCS#7
// padding to 32 bytes, plaintext = random(16) ‖ len(4, big endian) ‖ msg ‖ appid.
func openWeChat(encodingAESKey, encrypt string) (msg, appid string, err error) {
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		return "", "", fmt.Errorf("EncodingAESKey does not decode to 32 bytes")
	}
	data, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil || len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return "", "", fmt.Errorf("Encrypt is not base64 of whole AES blocks")
	}
	block, _ := aes.NewCipher(key)
	cipher.NewCBCDecrypter(block, key[:16]).CryptBlocks(data, data)
	pad := int(data[len(data)-1])
	if pad < 1 || pad > 32 || pad > len(data) || !bytes.Equal(data[len(data)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return "", "", fmt.Errorf("bad padding")
	}
	data = data[:len(data)-pad]
	if len(data) < 20 {
		return "", "", fmt.Errorf("too short")
	}
	n := int(binary.BigEndian.Uint32(data[16:20]))
	if n > len(data)-20 {
		return "", "", fmt.Errorf("length field past the data")
	}
	return string(data[20 : 20+n]), string(data[20+n:]), nil
}

func TestIndependentCryptoMatchesOfficialVectors(t *testing.T) {
	// docs/wechat-protocol.md V1 and V3.
	if got := sha1Sorted("AAAAA", "1714037059", "486452656"); got != "899cf89e464efb63f54ddac96b0a0a235f53aa78" {
		t.Errorf("V1 signature = %s", got)
	}
	const v3 = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	msg, appid, err := openWeChat("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", v3)
	if err != nil || msg != "我是中文abcd123" || appid != "wxb11529c136998cb6" {
		t.Errorf("V3 decrypt = %q, %q, %v", msg, appid, err)
	}
	if got := sha1Sorted("pamtest", "1409304348", "xxxxxx"); got != "76480565cbe296026c53aaacd1ad523a1ddba24f" {
		t.Errorf("V3 signature = %s", got)
	}
	if got := sha1Sorted("pamtest", "1409304348", "xxxxxx", v3); got != "82c962d39941aa48552f90ef55aa323dc620cc10" {
		t.Errorf("V3 msg_signature = %s", got)
	}
}

// The callback events verify against examples/local/callback.json exactly
// as WeChat's pushes would: signature, msg_signature, decryption with the
// AppID, the envelope's ToUserName, and the message the auto-replies match.
func TestCallbackEventsVerifyAgainstSampleConfig(t *testing.T) {
	app := loadSampleCallback(t)
	dir := filepath.Join(repoRoot(t), "events")
	tests := []struct {
		file    string
		method  string
		content string // decrypted Content, for POSTs
	}{
		{"callback-get.json", "GET", ""},
		{"callback-post-safe.json", "POST", "ping"},
		{"callback-post-safe-base64.json", "POST", "help me"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(data, &ev); err != nil {
				t.Fatal(err)
			}
			q := ev.QueryStringParameters
			if ev.RequestContext.HTTP.Method != tt.method {
				t.Fatalf("method %s, want %s", ev.RequestContext.HTTP.Method, tt.method)
			}
			if q["signature"] != sha1Sorted(app.Token, q["timestamp"], q["nonce"]) {
				t.Error("signature does not verify with the sample token")
			}
			if tt.method == "GET" {
				if q["echostr"] == "" {
					t.Error("handshake without echostr")
				}
				return
			}
			if q["encrypt_type"] != "aes" || q["openid"] == "" {
				t.Errorf("safe-mode query %v: want encrypt_type=aes and openid", q)
			}
			body := ev.Body
			if ev.IsBase64Encoded {
				b, err := base64.StdEncoding.DecodeString(body)
				if err != nil {
					t.Fatalf("isBase64Encoded body: %v", err)
				}
				body = string(b)
			}
			var envelope struct {
				ToUserName string
				Encrypt    string
				MsgType    string
			}
			if err := xml.Unmarshal([]byte(body), &envelope); err != nil {
				t.Fatalf("envelope: %v", err)
			}
			if envelope.MsgType != "" {
				t.Error("a safe-mode envelope carries no plaintext fields")
			}
			if q["msg_signature"] != sha1Sorted(app.Token, q["timestamp"], q["nonce"], envelope.Encrypt) {
				t.Error("msg_signature does not verify over Encrypt")
			}
			plain, appid, err := openWeChat(app.EncodingAESKey, envelope.Encrypt)
			if err != nil {
				t.Fatalf("decrypt: %v", err)
			}
			if appid != app.AppID {
				t.Errorf("embedded AppID %q, want %q", appid, app.AppID)
			}
			var msg struct {
				ToUserName, FromUserName, MsgType, Content string
				CreateTime, MsgId                          int64
			}
			if err := xml.Unmarshal([]byte(plain), &msg); err != nil {
				t.Fatalf("message: %v", err)
			}
			if msg.ToUserName != envelope.ToUserName || msg.FromUserName != q["openid"] || msg.MsgType != "text" ||
				msg.Content != tt.content || msg.MsgId == 0 || fmt.Sprint(msg.CreateTime) != q["timestamp"] {
				t.Errorf("message %+v does not match the envelope and query", msg)
			}
		})
	}
}

// The sample configuration is what the functions will load: apps.json must
// pass pkg/config's validation, callback.json pkg/callback's and the
// sample's own requirements (ping -> pong, a prefix reply, safe mode).
func TestSampleConfiguration(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "examples", "local", "apps.json"))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := config.ParseApps(data)
	if err != nil {
		t.Fatalf("examples/local/apps.json: %v", err)
	}
	app, ok := apps.Lookup(sampleAppID)
	if !ok {
		t.Fatalf("apps.json has no %s", sampleAppID)
	}
	if kinds := fmt.Sprint(app.Kinds()); kinds != "[access_token jsapi_ticket]" {
		t.Errorf("apps.json kinds %s, want access_token and jsapi_ticket", kinds)
	}

	cbData, err := os.ReadFile(filepath.Join(root, "examples", "local", "callback.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := callback.ParseConfig(cbData); err != nil {
		t.Fatalf("examples/local/callback.json: %v", err)
	}
	cb := loadSampleCallback(t)
	if cb.AppID != sampleAppID || cb.Token == "" || cb.Mode != "safe" || cb.Welcome == "" {
		t.Errorf("callback.json app %+v: want the sample appid, a token, mode safe and a welcome", cb)
	}
	if len(cb.EncodingAESKey) != 43 || strings.Trim(cb.EncodingAESKey, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Error("encoding_aes_key must be 43 characters of [a-zA-Z0-9]")
	}
	var ping, prefix bool
	for _, r := range cb.AutoReplies {
		if r.Match == "ping" && r.Reply == "pong" {
			ping = true
		}
		if r.Prefix != "" && r.Reply != "" {
			prefix = true
		}
		if (r.Match == "") == (r.Prefix == "") {
			t.Errorf("auto reply %+v: set exactly one of match and prefix", r)
		}
	}
	if !ping || !prefix {
		t.Error("auto_replies must contain ping -> pong and a prefix example")
	}
}
