package wechattest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// A WeCom app's token stays the same until it expires or WeCom revokes it;
// the oracle answers by credential id "<corpid>:<agent>".
func ExampleWeComServer() {
	const corpid, agent, secret = "ww0123456789abcdef", "1000002", "agent-secret"
	clock := wechattest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := wechattest.NewWeComServer(wechattest.WithClock(clock.Now))
	defer srv.Close()
	srv.AddApp(corpid, agent, secret)
	id := wechattest.WeComCredentialID(corpid, agent)

	c := wechat.NewWeComClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))
	ctx := context.Background()
	tok, _ := c.GetToken(ctx, corpid, secret)
	clock.Advance(119 * time.Minute)
	same, _ := c.GetToken(ctx, corpid, secret)
	fmt.Println("same token a minute before expiry:", same.AccessToken == tok.AccessToken, same.ExpiresIn)

	srv.RevokeToken(corpid, agent)
	_, err := c.JSAPITicket(ctx, tok.AccessToken)
	fmt.Println("revoked:", wechat.ErrorCode(err), wechat.ErrorClass(err), srv.Valid(id, tok.AccessToken, clock.Now()))
	next, _ := c.GetToken(ctx, corpid, secret)
	fmt.Println("new token:", next.AccessToken != tok.AccessToken, next.ExpiresIn)

	_, err = c.GetToken(ctx, corpid, "wrong")
	fmt.Println("wrong secret:", wechat.ErrorCode(err), wechat.ErrorClass(err))
	// Output:
	// same token a minute before expiry: true 1m0s
	// revoked: 40014 token_rejected false
	// new token: true 2h0m0s
	// wrong secret: 40001 configuration
}
