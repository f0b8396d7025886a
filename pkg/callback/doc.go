// Package callback terminates WeChat Official Account message pushes: it
// verifies signatures, decrypts and encrypts message bodies, parses typed
// messages, routes them to handlers and writes passive replies.
//
// The request path is, in order (DESIGN.md §7): unknown appid → 404, body
// over 64 KiB → 413, `signature` and `timestamp` (replay window) → 403,
// then in safe mode `msg_signature` over the Encrypt field, decryption with
// the current then the previous EncodingAESKey, and the AppID and
// ToUserName checks. Only then is the push de-duplicated (a claim in a
// DedupeStore), published (a Publisher) and routed; handlers run with a
// 4-second deadline after which WeChat is answered `success`.
//
// Authenticity failures answer 403, undecodable content 400, and no
// handler, store write or publish happens on any 4xx. The package imports
// only the standard library: pkg/dynamo and pkg/eventbus implement its
// DedupeStore and Publisher interfaces on AWS.
package callback
