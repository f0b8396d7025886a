// Package tokenserver is the core of functions/token (docs/token-api.md): it
// serves stored credentials to callers that cannot read DynamoDB
// themselves and forwards invalidation reports to the refresh function.
//
// The same logic answers two shapes. Server.ServeHTTP is a plain
// http.Handler for the Function URL (through pkg/lambdahttp), the local
// stack or any Go server:
//
//	GET  /token?appid=<id>&kind=<kind>            → credential JSON
//	POST /token/invalidate {"appid","kind","token"} → credential JSON
//
// Server.Invoke answers direct lambda:InvokeFunction payloads
// ({"appid","kind"} or {"action":"invalidate","appid","kind","token"})
// with the same JSON objects, errors included, and never a function error.
// Server.Handle picks between the two for a raw Lambda event.
//
// Reads go through a tokenclient.Client, so the function caches exactly
// like any reader (≤ 60 s, never within 10 s of expiry) and never hands out
// a value within that margin: such an item is 503 token_unavailable. Tokens
// are never logged.
package tokenserver
