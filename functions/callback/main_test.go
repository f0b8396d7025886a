package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
)

const (
	appid    = "wx0123456789abcdef"
	token    = "lambda-token"
	aesKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	secretID = "wxcentral/callback"
	bus      = "wxcentral-bus"
)

// httpEvent is the HTTP API (payload 2.0) event for a request to /wechat/{appid}.
func httpEvent(method, rawQuery, body string, b64 bool) []byte {
	return httpEventAt(appid, method, rawQuery, body, b64)
}

// httpEventAt is httpEvent for the route of the credential id id.
func httpEventAt(appid, method, rawQuery, body string, b64 bool) []byte {
	q, _ := url.ParseQuery(rawQuery)
	params := map[string]string{}
	for k := range q {
		params[k] = q.Get(k)
	}
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: method + " /wechat/{appid}", RawPath: "/wechat/" + appid, RawQueryString: rawQuery,
		Headers:               map[string]string{"content-type": "text/xml", "host": "abc.execute-api.us-east-1.amazonaws.com", "user-agent": "Mozilla/4.0"},
		QueryStringParameters: params, PathParameters: map[string]string{"appid": appid},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: method + " /wechat/{appid}", Stage: "$default", RequestID: "req-1", DomainName: "abc.execute-api.us-east-1.amazonaws.com",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/wechat/" + appid, Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"},
		},
		Body: body, IsBase64Encoded: b64,
	}
	if b64 {
		ev.Body = base64.StdEncoding.EncodeToString([]byte(body))
		ev.Headers["content-type"] = "application/octet-stream"
	}
	out, _ := json.Marshal(ev)
	return out
}

// invokeHTTP invokes fn with an HTTP API event and returns its response,
// with a base64 body decoded.
func invokeHTTP(t *testing.T, ctx context.Context, fn *lambdatest.Function, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := fn.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, fn.Logs())
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			t.Fatalf("response body: %v", err)
		}
		resp.Body = string(b)
	}
	return resp
}

// startCallback starts the callback bootstrap under the test Runtime API
// with doc as its callback document (in fake Secrets Manager), a fresh
// table and, when publish is set, EVENT_BUS_NAME.
func startCallback(t *testing.T, doc string, publish bool) (*lambdatest.Function, *fakeaws.Server, *dynamodb.Client, string) {
	t.Helper()
	bin := lambdatest.Build(t, "callback")
	client, table := dynamotest.NewTable(t)
	aws_ := fakeaws.New(t)
	aws_.PutSecret(secretID, doc)
	env := aws_.Env()
	env["TABLE_NAME"] = table
	env["CALLBACK_SECRET_ID"] = secretID
	if publish {
		env["EVENT_BUS_NAME"] = bus
	}
	env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(t).Endpoint
	return lambdatest.Start(t, bin, env), aws_, client, table
}

func TestBootstrapUnderRuntimeAPI(t *testing.T) {
	fn, aws_, client, table := startCallback(t, `{"apps":[{"appid":"`+appid+`","token":"`+token+`","encoding_aes_key":"`+aesKey+`","mode":"safe",
		"welcome":"welcome!","auto_replies":[{"match":"hi","reply":"hello from lambda"}]}]}`, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender := &callbacktest.Sender{AppID: appid, Token: token, EncodingAESKey: aesKey}

	invoke := func(payload []byte) events.APIGatewayV2HTTPResponse {
		t.Helper()
		return invokeHTTP(t, ctx, fn, payload)
	}

	// GET handshake.
	resp := invoke(httpEvent("GET", sender.HandshakeQuery("hs-8812"), "", false))
	if resp.StatusCode != 200 || resp.Body != "hs-8812" {
		t.Fatalf("handshake: %d %q", resp.StatusCode, resp.Body)
	}
	// Safe-mode POSTs, as text and as a base64 body.
	for i, b64 := range []bool{false, true} {
		msg := sender.Text("oUser", time.Now().Unix(), int64(5000+i), "hi")
		q, body, nonce := sender.PushParts(msg)
		resp = invoke(httpEvent("POST", q, body, b64))
		plain, err := sender.OpenReply([]byte(resp.Body), nonce)
		if resp.StatusCode != 200 || err != nil || !strings.Contains(plain, "<Content><![CDATA[hello from lambda]]></Content>") {
			t.Fatalf("POST (base64 %v): %d %q %v", b64, resp.StatusCode, resp.Body, err)
		}
	}
	// A bad signature is a 403 from the binary too.
	resp = invoke(httpEvent("GET", "signature=x&timestamp=1&nonce=1&echostr=e", "", false))
	if resp.StatusCode != 403 {
		t.Fatalf("bad signature: %d", resp.StatusCode)
	}

	// Both pushes were published and recorded for dedupe.
	if ev := aws_.Events(); len(ev) != 2 || ev[0].EventBusName != bus || ev[0].DetailType != "WeChat Message" {
		t.Fatalf("events: %+v", ev)
	}
	item, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "msg#" + appid + "#5000"}}})
	if err != nil || item.Item["status"].(*types.AttributeValueMemberS).Value != "COMPLETED" {
		t.Fatalf("dedupe item: %v %v", item.Item, err)
	}
	// The secret was read once (cached), and logs never carry the content or keys.
	if n := aws_.SecretReads(secretID); n != 1 {
		t.Errorf("secret read %d times, want 1 (cached)", n)
	}
	for _, s := range []string{aesKey, token, "hello from lambda"} {
		if strings.Contains(fn.Logs(), s) {
			t.Errorf("logs contain %q", s)
		}
	}
}

func TestBootstrapBadDocumentFailsInvocation(t *testing.T) {
	fn, _, _, _ := startCallback(t, `{"apps":[{"appid":"`+appid+`","token":"t","encoding_aes_key":"short"}]}`, false)
	_, err := fn.Invoke(context.Background(), httpEvent("GET", "signature=x&timestamp=1&nonce=1&echostr=e", "", false))
	if err == nil || !strings.Contains(err.Error(), "apps[0].encoding_aes_key") || strings.Contains(err.Error(), "short") {
		t.Fatalf("invoke error %v", err)
	}
}

// Shapes an HTTP API may deliver that TestBootstrapUnderRuntimeAPI does not
// use: the query only in queryStringParameters, mixed-case header names, a
// base64 body; and a COMPLETED dedupe item written by another party (no
// ttl) answered from its stored reply without publishing.
func TestBootstrapEventShapesAndStoredReply(t *testing.T) {
	fn, aws_, client, table := startCallback(t, `{"apps":[{"appid":"`+appid+`","token":"`+token+`","encoding_aes_key":"`+aesKey+`",
		"auto_replies":[{"match":"hi","reply":"hello from lambda"}]}]}`, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender := &callbacktest.Sender{AppID: appid, Token: token, EncodingAESKey: aesKey}

	push := func(msg string) (events.APIGatewayV2HTTPResponse, string) {
		t.Helper()
		q, body, nonce := sender.PushParts(msg)
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(httpEvent("POST", q, body, true), &ev); err != nil {
			t.Fatal(err)
		}
		ev.RawQueryString = "" // the query only as queryStringParameters
		ev.Headers = map[string]string{"Content-Type": "application/octet-stream", "Host": ev.RequestContext.DomainName}
		payload, _ := json.Marshal(ev)
		resp := invokeHTTP(t, ctx, fn, payload)
		plain, err := sender.OpenReply([]byte(resp.Body), nonce)
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("push %q: %d %q %v", msg, resp.StatusCode, resp.Body, err)
		}
		return resp, plain
	}
	getItem := func(pk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil || out.Item == nil {
			t.Fatalf("item %s: %v %v", pk, out, err)
		}
		return out.Item
	}

	before := time.Now().Unix()
	_, plain := push(sender.Text("oUser", time.Now().Unix(), 7000, "hi"))
	if !strings.Contains(plain, "<Content><![CDATA[hello from lambda]]></Content>") {
		t.Fatalf("reply %q", plain)
	}
	item := getItem("msg#" + appid + "#7000")
	if item["status"].(*types.AttributeValueMemberS).Value != "COMPLETED" || item["reply"].(*types.AttributeValueMemberS).Value != plain {
		t.Fatalf("dedupe item %v, want reply %q", item, plain)
	}
	ttl, _ := strconv.ParseInt(item["ttl"].(*types.AttributeValueMemberN).Value, 10, 64)
	if ttl < before+600 || ttl > time.Now().Unix()+600 {
		t.Fatalf("ttl %d, want 10 minutes after %d (unix seconds)", ttl, before)
	}

	// The record answers only the push it was written for: its digest is
	// the hex SHA-256 of that push's plaintext (docs/dynamodb.md).
	msg := sender.Text("oUser", time.Now().Unix(), 7001, "hi")
	digest := sha256.Sum256([]byte(msg))
	stored := "<xml><ToUserName><![CDATA[oUser]]></ToUserName><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[stored]]></Content></xml>"
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "msg#" + appid + "#7001"}, "status": &types.AttributeValueMemberS{Value: "COMPLETED"},
		"reply": &types.AttributeValueMemberS{Value: stored}, "digest": &types.AttributeValueMemberS{Value: hex.EncodeToString(digest[:])}}}); err != nil {
		t.Fatal(err)
	}
	if _, plain = push(msg); plain != stored {
		t.Fatalf("duplicate of a COMPLETED push: reply %q, want the stored %q", plain, stored)
	}
	if n := len(aws_.Events()); n != 1 {
		t.Fatalf("%d events published, want 1 (the duplicate is not published again)", n)
	}
}

// A WeCom app and a mini-program beside an Official Account (issue 14):
// the WeCom URL check is answered with the decrypted echostr, a WeCom push
// with a reply encrypted for the corp, and a mini-program's JSON push in
// safe mode with `success` and one publish.
func TestBootstrapWeComAndMiniProgram(t *testing.T) {
	const (
		corpID   = "wx5823bf96d3bd56c7" // WeCom's published sample corp, token and key
		agent    = "218"
		wecomTok = "QDG6eK"
		wecomKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
		wecomID  = corpID + ":" + agent
		miniID   = "wx00000000000000mini"
	)
	fn, aws_, client, table := startCallback(t, `{"apps":[
		{"appid":"`+appid+`","token":"`+token+`","encoding_aes_key":"`+aesKey+`"},
		{"type":"wecom","corpid":"`+corpID+`","agent":"`+agent+`","token":"`+wecomTok+`","encoding_aes_key":"`+wecomKey+`",
		 "auto_replies":[{"match":"hello","reply":"hello from wecom"}]},
		{"type":"miniprogram","appid":"`+miniID+`","token":"`+token+`","encoding_aes_key":"`+aesKey+`","data_format":"json"}]}`, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wc, err := callback.NewCipher(wecomKey, corpID)
	if err != nil {
		t.Fatal(err)
	}
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), callbacktest.Nonce()

	// URL check: msg_signature over the encrypted echostr, the plaintext back.
	echo := wc.Encrypt([16]byte{7}, []byte("1616140317555161061"))
	q := url.Values{"msg_signature": {callback.MsgSignature(wecomTok, ts, nonce, echo)}, "timestamp": {ts}, "nonce": {nonce}, "echostr": {echo}}
	resp := invokeHTTP(t, ctx, fn, httpEventAt(wecomID, "GET", q.Encode(), "", false))
	if resp.StatusCode != 200 || resp.Body != "1616140317555161061" {
		t.Fatalf("WeCom URL check: %d %q", resp.StatusCode, resp.Body)
	}

	// A push: the auto reply comes back sealed for the corp.
	plain := "<xml><ToUserName><![CDATA[" + corpID + "]]></ToUserName><FromUserName><![CDATA[mycreate]]></FromUserName><CreateTime>" + ts +
		"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>4561255354251345929</MsgId><AgentID>218</AgentID></xml>"
	enc := wc.Encrypt([16]byte{8}, []byte(plain))
	body := "<xml><ToUserName><![CDATA[" + corpID + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
	q = url.Values{"msg_signature": {callback.MsgSignature(wecomTok, ts, nonce, enc)}, "timestamp": {ts}, "nonce": {nonce}}
	resp = invokeHTTP(t, ctx, fn, httpEventAt(wecomID, "POST", q.Encode(), body, false))
	env, err := callback.ParseMessage([]byte(resp.Body))
	if resp.StatusCode != 200 || err != nil || env.Get("Nonce") != nonce ||
		!callback.VerifyMsgSignature(env.Get("MsgSignature"), wecomTok, env.Get("TimeStamp"), nonce, env.Get("Encrypt")) {
		t.Fatalf("WeCom push: %d %q %v", resp.StatusCode, resp.Body, err)
	}
	if reply, err := wc.Decrypt(env.Get("Encrypt")); err != nil || !strings.Contains(string(reply), "<Content><![CDATA[hello from wecom]]></Content>") {
		t.Fatalf("WeCom reply %q %v", reply, err)
	}

	// A mini-program's JSON push in safe mode: success, published once.
	mc, _ := callback.NewCipher(aesKey, miniID)
	msg := `{"ToUserName":"gh_mini","FromUserName":"oMini","CreateTime":` + ts + `,"MsgType":"text","Content":"hi","MsgId":23456789012345678}`
	enc = mc.Encrypt([16]byte{9}, []byte(msg))
	q = url.Values{"signature": {callback.Signature(token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce}, "encrypt_type": {"aes"},
		"msg_signature": {callback.MsgSignature(token, ts, nonce, enc)}}
	resp = invokeHTTP(t, ctx, fn, httpEventAt(miniID, "POST", q.Encode(), `{"ToUserName":"gh_mini","Encrypt":"`+enc+`"}`, false))
	if resp.StatusCode != 200 || resp.Body != "success" {
		t.Fatalf("mini-program JSON push: %d %q", resp.StatusCode, resp.Body)
	}

	ev := aws_.Events()
	if len(ev) != 2 {
		t.Fatalf("%d events, want 2 (the WeCom push and the mini-program push)", len(ev))
	}
	for i, want := range []struct{ appid, raw string }{{wecomID, plain}, {miniID, msg}} {
		var d struct {
			AppID  string `json:"appid"`
			RawXML string `json:"raw_xml"`
		}
		if err := json.Unmarshal([]byte(ev[i].Detail), &d); err != nil || d.AppID != want.appid || d.RawXML != want.raw {
			t.Fatalf("event %d: %s", i, ev[i].Detail)
		}
	}
	// Both are recorded for dedupe under their credential ids.
	for _, pk := range []string{"msg#" + wecomID + "#4561255354251345929", "msg#" + miniID + "#23456789012345678"} {
		item, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
		if err != nil || item.Item == nil || item.Item["status"].(*types.AttributeValueMemberS).Value != "COMPLETED" {
			t.Fatalf("dedupe item %s: %v %v", pk, item, err)
		}
	}
	for _, s := range []string{wecomKey, wecomTok, aesKey, "hello from wecom"} {
		if strings.Contains(fn.Logs(), s) {
			t.Errorf("logs contain %q", s)
		}
	}
}
