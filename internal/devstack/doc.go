// Package devstack runs wxcentral's local stack (`make run`, `wxcentral
// dev`): dynalite as the DynamoDB table, the WeChat simulator of
// pkg/wechat/wechattest (unless a real WeChat API base is given), and the
// three function handlers — token, callback and the refresh function's
// direct-invoke protocol — on one loopback port, with the sweep on a ticker.
//
// Routes (docs/operations.md):
//
//	GET  /token?appid=…&kind=…     token function (pkg/tokenserver)
//	POST /token/invalidate          forced refresh through the token function
//	GET  /wechat/{appid}            callback handshake (pkg/callback)
//	POST /wechat/{appid}            callback pushes
//	POST /dev/refresh               the refresh function's invoke payload
//	                                ({"action":"sweep"} or {"action":"force",…});
//	                                local stack only, used by `wxcentral refresh`
//
// The same handlers run in Lambda; here they share one process, so the
// token function's forced refresh calls the refresher in process. A state
// file (see StatePath) tells the other `wxcentral` subcommands where the
// running stack is.
package devstack
