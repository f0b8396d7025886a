package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// componentEvent is the HTTP API event of a push to /component/{component_appid}.
func componentEvent(p wechattest.ComponentPush) []byte {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /component/{component_appid}", RawPath: p.Path(), RawQueryString: p.Query,
		Headers:        map[string]string{"content-type": "text/xml"},
		PathParameters: map[string]string{"component_appid": p.ComponentAppID},
		RequestContext: events.APIGatewayV2HTTPRequestContext{RouteKey: "POST /component/{component_appid}", Stage: "$default",
			TimeEpoch: time.Now().UnixMilli(),
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: p.Path(), Protocol: "HTTP/1.1", SourceIP: "203.0.113.7"}},
		Body: p.Body,
	}
	out, _ := json.Marshal(ev)
	return out
}

// The callback bootstrap with a platform in its document: a ticket push is
// stored in the table, an authorized event reaches REFRESH_FUNCTION_NAME
// through the Lambda Invoke API with its code, and a token_unavailable
// answer makes WeChat push again (503).
func TestBootstrapComponent(t *testing.T) {
	const (
		compID    = "wxc0mp0nent0000001"
		compToken = "component-event-token"
		refreshFn = "wxcentral-refresh"
	)
	bin := lambdatest.Build(t, "callback")
	client, table := dynamotest.NewTable(t)
	aws_ := fakeaws.New(t)
	aws_.PutSecret(secretID, `{"apps":[{"appid":"`+appid+`","token":"`+token+`","encoding_aes_key":"`+aesKey+`"},
		{"type":"component","appid":"`+compID+`","token":"`+compToken+`","encoding_aes_key":"`+aesKey+`"}]}`)
	var mu sync.Mutex
	var got []tokenapi.AuthorizationRequest
	answer := tokenapi.Answer{AppID: "wxauth0rizer000001", Kind: "access_token", Token: "t", ExpiresAt: time.Now().Add(time.Hour).Unix(), Version: 1}
	aws_.HandleInvoke(refreshFn, func(_ context.Context, payload []byte) ([]byte, error) {
		var req tokenapi.AuthorizationRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, req)
		return json.Marshal(answer)
	})
	env := aws_.Env()
	env["TABLE_NAME"] = table
	env["CALLBACK_SECRET_ID"] = secretID
	env["REFRESH_FUNCTION_NAME"] = refreshFn
	env["CALLBACK_MAX_SKEW"] = "0" // the simulator's clock
	env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(t).Endpoint
	fn := lambdatest.Start(t, bin, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sim := wechattest.NewComponentSimulator(wechattest.WithSeed(5))
	if err := sim.AddPlatform(compID, "component-secret", compToken, aesKey); err != nil {
		t.Fatal(err)
	}
	var ticket wechattest.ComponentPush
	for i := 0; i < 3 && ticket.InfoType == ""; i++ {
		if ps := sim.DueTicketPushes(); len(ps) > 0 {
			ticket = ps[0]
		}
	}
	if ticket.InfoType == "" {
		t.Fatal("the simulator pushed no ticket")
	}
	if resp := invokeHTTP(t, ctx, fn, componentEvent(ticket)); resp.StatusCode != 200 || resp.Body != "success" {
		t.Fatalf("ticket push: %d %q\n%s", resp.StatusCode, resp.Body, fn.Logs())
	}
	item, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#" + compID + "#component_verify_ticket"}}})
	if err != nil || item.Item == nil || item.Item["value"].(*types.AttributeValueMemberS).Value != ticket.ComponentVerifyTicket {
		t.Fatalf("ticket item: %v %v", item, err)
	}

	code, push, err := sim.Authorize(compID, "wxauth0rizer000001")
	if err != nil {
		t.Fatal(err)
	}
	if resp := invokeHTTP(t, ctx, fn, componentEvent(push)); resp.StatusCode != 200 || resp.Body != "success" {
		t.Fatalf("authorized: %d %q\n%s", resp.StatusCode, resp.Body, fn.Logs())
	}
	mu.Lock()
	if len(got) != 1 || got[0].Action != tokenapi.ActionAuthorize || got[0].AuthorizationCode != code || got[0].ComponentAppID != compID {
		t.Fatalf("refresh function got %+v", got)
	}
	answer = tokenapi.Fail(tokenapi.CodeTokenUnavailable, "component_access_token: none yet")
	mu.Unlock()
	if resp := invokeHTTP(t, ctx, fn, componentEvent(push)); resp.StatusCode != 503 {
		t.Fatalf("token_unavailable: %d %q, want 503", resp.StatusCode, resp.Body)
	}
	if strings.Contains(fn.Logs(), code) || strings.Contains(fn.Logs(), ticket.ComponentVerifyTicket) {
		t.Error("logs contain the authorization code or the ticket")
	}
}
