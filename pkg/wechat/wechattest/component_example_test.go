package wechattest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// A third-party platform: WeChat pushes a component_verify_ticket every 10
// minutes, the ticket buys a component_access_token, an authorisation code
// buys an authorizer's tokens, and a rotated refresh token must replace the
// old one, which dies after a 5-minute overlap.
func ExampleComponentServer() {
	const platform, secret = "wxc0mp0nent0000001", "component-secret"
	const eventToken, eventKey = "event-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	const shop = "wxauth0rizer000001"
	clock := wechattest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := wechattest.NewComponentServer(wechattest.WithClock(clock.Now))
	defer srv.Close()
	srv.AddPlatform(platform, secret, eventToken, eventKey)
	c := wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))
	ctx := context.Background()

	// Each push is a signed, encrypted POST for the authorization-event URL:
	// push.NewRequest(callbackBaseURL) delivers it.
	clock.Advance(20 * time.Minute)
	pushes := srv.DueTicketPushes()
	fmt.Println("ticket pushes:", len(pushes), pushes[0].InfoType, pushes[0].Path())
	ticket := pushes[len(pushes)-1].ComponentVerifyTicket

	ct, _ := c.ComponentToken(ctx, platform, secret, ticket)
	fmt.Println("component token for", ct.ExpiresIn)

	code, push, _ := srv.Authorize(platform, shop)
	info, _ := c.QueryAuth(ctx, ct.AccessToken, platform, code)
	fmt.Println(push.InfoType, info.AuthorizerAppID, info.FuncScopes)

	srv.RotateRefreshTokenNext(platform, shop)
	at, _ := c.AuthorizerToken(ctx, ct.AccessToken, platform, shop, info.RefreshToken)
	fmt.Println("rotated:", at.Rotated, "valid:", srv.AuthorizerTokenValid(shop, at.AccessToken.AccessToken, clock.Now()))

	clock.Advance(5 * time.Minute)
	_, err := c.AuthorizerToken(ctx, ct.AccessToken, platform, shop, info.RefreshToken)
	fmt.Println("old refresh token:", wechat.ErrorCode(err), wechat.ErrorClass(err), wechat.IsReauthorizationRequired(err))
	fmt.Printf("%+v\n", srv.RefreshAudits(platform)[0])
	// Output:
	// ticket pushes: 3 component_verify_ticket /component/wxc0mp0nent0000001
	// component token for 2h0m0s
	// authorized wxauth0rizer000001 [1 15]
	// rotated: true valid: true
	// old refresh token: 61023 configuration true
	// {AuthorizerAppID:wxauth0rizer000001 Authorized:true Issued:2 Rotations:1 Lost:0 Stale:1}
}
