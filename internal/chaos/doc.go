// Package chaos is wxcentral's reliability proof: a simulated day (or a
// shorter run) of everything going wrong at once, on loopback and a
// virtual clock, with a report and bounds (issue 6, `make chaos`).
//
// The world: the WeChat simulator (pkg/wechat/wechattest) sharing a
// virtual clock with everything else; dynalite behind FaultProxy, a
// reverse proxy that can take DynamoDB down; fakeaws's EventBridge. The
// system under test is wxcentral's own code, unchanged: several
// refresh.Refresher sweepers per scheduled tick (EventBridge delivers at
// least once) with clock skew between them, consumers each with their own
// tokenclient.Client calling WeChat's authenticated API through Do, callers
// of the token function's http.Handler (tokenserver), and callback
// handler instances sharing one dynamo.DedupeStore and publishing to
// EventBridge through pkg/eventbus.
//
// Run steps the clock (a few simulated seconds per step) and runs each
// step's work concurrently and to completion before the next step, so a
// run is repeatable in what it injects and when. Every token handed to a
// caller is checked against the simulator's oracle at that instant; every
// callback delivery, publish and handler run is accounted for; every log
// line goes to one writer for the log audit.
package chaos
