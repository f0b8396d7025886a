// Package wechattest is a WeChat Official Account API simulator for tests,
// in the spirit of net/http/httptest: start one with NewServer, point a
// client at its URL, and assert on what WeChat would have seen and
// accepted.
//
//	srv := wechattest.NewServer(wechattest.WithClock(clock.Now))
//	defer srv.Close()
//	srv.AddApp("wx0123456789abcdef", "secret")
//	c := wechat.NewClient(wechat.WithBaseURL(srv.URL))
//	tok, _ := c.StableToken(ctx, "wx0123456789abcdef", "secret", false)
//	ok := srv.Valid("wx0123456789abcdef", tok.AccessToken, clock.Now())
//
// NewSimulator returns the same thing as a plain http.Handler, to mount in
// another server (the local stack does).
//
// # What it simulates
//
// Per app (AddApp): POST /cgi-bin/stable_token, GET /cgi-bin/token (the
// legacy API), GET /cgi-bin/ticket/getticket, POST
// /cgi-bin/message/custom/send and GET /cgi-bin/user/info, answering with
// WeChat's JSON and errcodes, errmsg carrying an " rid: …" suffix.
//
//   - stable_token, normal mode: the same token until the last 300 s of its
//     life (WithRotationWindow), then a new one with a full lifetime
//     (WithTokenLifetime, default 7200 s) while the old one stays valid to
//     its own expiry. So expires_in is never below the window.
//   - stable_token, force mode: a new token; the previous ones stay valid
//     for WithForceOverlap (default 5 min, never past their expiry). At most
//     WithForceDailyLimit (20) force calls per Asia/Shanghai day, then 45009.
//     A force call less than WithForceMinInterval (30 s) after the last one
//     that rotated does not rotate: it returns the current token unchanged,
//     still counts against the daily limit, and is counted in
//     Counters.StableTokenForceIgnored. WeChat documents only "otherwise it
//     does not refresh", so this is a choice; code under test should work
//     whether or not such a call rotates.
//   - /cgi-bin/token: every call issues a new token and the previous ones
//     die 5 minutes later. Its tokens are independent of stable tokens.
//   - Token errors: unknown appid 40013, wrong secret 40125, app switched
//     off the IP whitelist (SetIPAllowed) 40164, bad grant_type 40002.
//   - Authenticated APIs (getticket, custom send, user info): no token
//     41001, an unknown, replaced or revoked token 40001, an expired one
//     42001. getticket issues a new ticket per call (jsapi or wx_card,
//     full lifetime) without invalidating earlier ones. Custom messages are
//     recorded (SentMessages); user info answers for users added with
//     AddUser and 40003 for other openids.
//
// # Test controls
//
//   - Time: WithClock takes any func() time.Time; Clock is a goroutine-safe
//     virtual clock (Now, Advance, Set). Injected latency is real time.
//   - Oracles: Valid(appid, token, at) and TicketValid(appid, ticket, at)
//     answer from the full history of issued values, so a test can check
//     that a value served at instant t was accepted by WeChat at t.
//   - ForceRotate rotates a token "from another environment", keeping the
//     old one for the overlap, or killing it at once with RevokeNow.
//   - Faults: InjectFaults scripts the next calls of an endpoint (errcode,
//     HTTP status, latency, dropped connection, truncated answer, optionally
//     after the call took effect); SetFaultRate fails a share of calls at
//     random (seeded by WithSeed); SetOutage drops every connection. Note
//     that net/http replays a GET once when a reused connection is dropped
//     before any answer byte (see Fault).
//   - Counters: per app and per endpoint and mode, with ResetCounters.
//
// # Mini-programs and WeCom
//
// AddMiniProgram registers a mini-program: stable_token exactly as for an
// Official Account, getticket refused with 48001. NewWeComServer (or
// NewWeComSimulator) is WeCom's credential API on its own base URL, as
// qyapi.weixin.qq.com is: gettoken (the same token until expiry, early
// revocation with RevokeToken), the corp jsapi_ticket and the agent_config
// ticket, WeCom's errcodes, the same faults, counters and oracle, keyed by
// credential id "<corpid>:<agent>".
//
// # Third-party platforms
//
// NewComponentServer (or NewComponentSimulator) is a WeChat Open Platform
// third-party platform (开放平台第三方平台) on the api.weixin.qq.com base:
// api_component_token, api_start_push_ticket, api_query_auth and
// api_authorizer_token, with every other path served by the Official
// Account simulator it wraps, so authorizer tokens work on getticket.
// AddPlatform registers a platform with its secret and the token and
// EncodingAESKey of its authorization-event URL. DueTicketPushes returns
// the component_verify_ticket pushes due on the clock (every 10 minutes,
// each ticket valid 12 h), signed and encrypted with receive id = the
// component appid; SetTicketPushFaults delays, reorders or drops them and
// StopTicketPushes stops them until api_start_push_ticket. Authorize and
// Unauthorize return the authorized / updateauthorized / unauthorized
// pushes. api_authorizer_token may rotate the refresh token
// (SetRefreshTokenRotation, RotateRefreshTokenNext); a rotated-out one
// works for 5 minutes, then 61023. Oracles: ComponentTokenValid,
// VerifyTicketValid, AuthorizerTokenValid, CurrentRefreshToken, and
// RefreshAudits, which counts refresh tokens lost (rotated out without ever
// being used) and refused (61023).
//
// The simulator keeps all state in memory under one mutex; every call is a
// map lookup or two, so a test may drive it thousands of times.
package wechattest
