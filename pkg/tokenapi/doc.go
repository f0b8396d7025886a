// Package tokenapi is the wire contract between wxcentral's functions and
// their callers (docs/token-api.md, docs/refresh.md): the token function's
// requests, the refresh function's forced-refresh request, the credential
// answer {"appid","kind","token","expires_at","expires_in","version"} that
// both return, and the {"error","message"} answer with its codes.
//
// Every side — pkg/refresh, pkg/tokenserver, pkg/tokenclient, the CLI and
// the tests — reads and writes these types, so the JSON exists once. The
// package depends on pkg/credential and the standard library only.
package tokenapi
