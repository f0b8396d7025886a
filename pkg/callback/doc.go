// Package callback terminates WeChat Official Account message pushes: it
// verifies signatures, decrypts and encrypts message bodies, parses typed
// messages, routes them to handlers and writes passive replies. The same
// path serves mini-programs (XML or JSON pushes, answered `success`) and
// WeCom apps (encrypted URL check, receive id = corpid), chosen by the
// entry's type in the callback document.
//
// The request path is, in order (docs/callback.md): unknown appid → 404, body
// over 64 KiB → 413, `signature` and `timestamp` (replay window) → 403,
// then in safe mode `msg_signature` over the Encrypt field, decryption with
// the current then the previous EncodingAESKey, and the AppID and
// ToUserName checks (in compat mode a body carrying Encrypt is encrypted).
// Only then is the push de-duplicated (a claim in a DedupeStore, fenced by
// an owner token; a stored reply answers only a push with the same
// digest), published (a Publisher) and routed. One budget, 4.5 s from
// arrival, covers claim, publish, handler (at most 4 s) and recording the
// reply, each store and bus call with its own short timeout, so WeChat has
// its answer within its 5 s; a handler past its deadline is answered
// `success`.
//
// Authenticity failures answer 403, undecodable content 400, and no
// handler, store write or publish happens on any 4xx. The package imports
// only the standard library: pkg/dynamo and pkg/eventbus implement its
// DedupeStore and Publisher interfaces on AWS, and callbacktest plays
// WeChat's side in tests.
//
// Pushes are parsed by internal/xmlscan, a small scanner for the shape
// WeChat sends that falls back to encoding/xml for anything else and is
// held to encoding/xml's result by a differential fuzz test. DOCTYPE and
// entity declarations are always rejected. Message keeps every element by
// its XML name, so unknown message and event types lose nothing.
//
// The files follow the steps of a request: transport.go (path, query,
// bounded body, answer), verify.go (signatures, replay window, modes,
// decryption), dedupe.go (claim, wait, complete, release), route.go (the
// handler under its deadline), seal.go (the encrypted answer) and
// budget.go (one time budget per request); handler.go runs them in order.
package callback
