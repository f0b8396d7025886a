// Package chaos is wxcentral's reliability proof: a simulated day (or a
// shorter run) of everything going wrong at once, on loopback and a
// virtual clock, with a report and bounds (issue 6, `make chaos`).
//
// The world: the WeChat simulator (pkg/wechat/wechattest) sharing a
// virtual clock with everything else, serving the Official Accounts and
// one mini-program; the WeCom simulator serving one WeCom app, whose
// token WeCom revokes early once mid-run; dynalite behind FaultProxy, a
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
//
// # Bounds (Report.Violations)
//
//   - no token served that WeChat's oracle rejected at that instant, except
//     inside an external rotation window (from the rotation until the old
//     token is dead plus three minutes, the longest a reader may still
//     cache it);
//   - the same for the mini-program and the WeCom app, the early WeCom
//     revocation counting as an external rotation: a reader refused with
//     40014/42001 reports it (tokenclient.Do, /token/invalidate) and the
//     token handed over in answer must be valid (replaced within one
//     report);
//   - at most one rejected call per consumer or caller per external
//     rotation, none outside them;
//   - stable_token calls answered with a token, outside the injected
//     incidents and 15 minutes of recovery after each: at most
//     ceil(run / 6910 s) + 2 per app (15 for a day). Calls that met an
//     injected -1 or timeout are reported beside them, not bounded: each
//     is a retry the fault forced;
//   - every push acknowledged with 200 ran its handler to completion
//     exactly once, plus once more per delivery that completed it but was
//     not answered 200 (WeChat delivers such a push again; a reply that
//     could not be recorded in time under load does this), and was on the
//     bus before the answer; pushes whose three deliveries were all
//     refused, as during the DynamoDB outage, were never acknowledged and
//     are counted apart;
//   - every callback delivery answered within 5 s of real time (WeChat's
//     wait), whatever the virtual clock says;
//   - the slow-EventBridge phase (every PutEvents takes 2.5 s of real time
//     for a minute, opening with a burst of pushes delivered at once):
//     every delivery of its pushes answered 200 and each push published
//     exactly once — no 503 cascade;
//   - the DynamoDB AccessDenied phase (10 minutes of 400
//     AccessDeniedException): every sweep reports a failed result of class
//     store, and at least one RefreshFailures{ErrorClass=store} metric is
//     emitted per sweep; every callback delivery is answered 503 (no claim
//     is possible); the token function answers a cached token or 503;
//   - no 5xx and no acceptance for bad input; no invalid token during the
//     DynamoDB outage or AccessDenied; no lease left behind; every reply
//     opens; every EMF line parses.
//
// Metrics: every component emits its EMF lines (RefreshOutcome,
// RefreshFailures, TokenRequests, CallbackRequests, ...) to one capture,
// stamped with the virtual clock, so the report counts what the alarms
// would see in each phase.
//
// Time: the callback handlers' clock is the virtual clock running at real
// speed within a step (stepClock): their budget and waits are real time,
// and a claim left behind by a failed delivery must age under the retry's
// wait as it does in production.
//
// Faults are drawn from seeded random sources, but concurrent calls take
// them in scheduling order, so two runs with one seed inject the same
// rates and incidents, not the same individual faults.
package chaos
