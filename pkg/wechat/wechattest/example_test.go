package wechattest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// A test drives the simulator on a virtual clock through a token's life,
// checks with the oracle what WeChat accepted, and injects a fault.
func Example() {
	const appid = "wx0123456789abcdef"
	clock := wechattest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := wechattest.NewServer(wechattest.WithClock(clock.Now))
	defer srv.Close()
	srv.AddApp(appid, "app-secret")

	c := wechat.NewClient(wechat.WithBaseURL(srv.URL), wechat.WithClock(clock.Now))
	ctx := context.Background()
	tok, _ := c.StableToken(ctx, appid, "app-secret", false)
	fmt.Println("expires_in:", tok.ExpiresIn)

	clock.Advance(time.Hour)
	same, _ := c.StableToken(ctx, appid, "app-secret", false)
	fmt.Println("same token an hour later:", same.AccessToken == tok.AccessToken, same.ExpiresIn)

	clock.Advance(56 * time.Minute) // 4 minutes left: inside the rotation window
	rotated, _ := c.StableToken(ctx, appid, "app-secret", false)
	fmt.Println("rotated:", rotated.AccessToken != tok.AccessToken, rotated.ExpiresIn)
	fmt.Println("old one still accepted:", srv.Valid(appid, tok.AccessToken, clock.Now()))
	fmt.Println("old one after its expiry:", srv.Valid(appid, tok.AccessToken, tok.ExpiresAt()))

	srv.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(-1))
	_, err := c.StableToken(ctx, appid, "app-secret", false)
	fmt.Println("fault:", wechat.ErrorCode(err), wechat.ErrorClass(err))
	fmt.Println("normal-mode calls:", srv.Counters(appid).StableTokenNormal)
	// Output:
	// expires_in: 2h0m0s
	// same token an hour later: true 1h0m0s
	// rotated: true 2h0m0s
	// old one still accepted: true
	// old one after its expiry: false
	// fault: -1 transient
	// normal-mode calls: 4
}

// The simulator is a plain http.Handler that can share a server with
// other routes, as the local stack does.
func ExampleSimulator_Handler() {
	sim := wechattest.NewSimulator()
	sim.AddApp("wx0123456789abcdef", "app-secret")
	mux := http.NewServeMux()
	mux.Handle("/cgi-bin/", sim.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := wechat.NewClient(wechat.WithBaseURL(srv.URL))
	tok, err := c.StableToken(context.Background(), "wx0123456789abcdef", "app-secret", false)
	fmt.Println(err, len(tok.AccessToken) >= 100, sim.Valid("wx0123456789abcdef", tok.AccessToken, time.Now()))
	// Output: <nil> true true
}

// ForceRotate plays another environment rotating the token on WeChat's
// side; RevokeNow makes the old token die at once (a leaked token).
func ExampleSimulator_ForceRotate() {
	clock := wechattest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim := wechattest.NewSimulator(wechattest.WithClock(clock.Now))
	sim.AddApp("wx0123456789abcdef", "app-secret")
	first, _ := sim.ForceRotate("wx0123456789abcdef")
	second, _ := sim.ForceRotate("wx0123456789abcdef")
	fmt.Println("first valid during the overlap:", sim.Valid("wx0123456789abcdef", first, clock.Now().Add(4*time.Minute)))
	sim.ForceRotate("wx0123456789abcdef", wechattest.RevokeNow())
	fmt.Println("second valid after RevokeNow:", sim.Valid("wx0123456789abcdef", second, clock.Now()))
	// Output:
	// first valid during the overlap: true
	// second valid after RevokeNow: false
}
