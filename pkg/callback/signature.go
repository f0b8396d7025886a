package callback

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"slices"
	"unsafe"
)

// Signature is WeChat's `signature` query parameter: the lowercase hex SHA-1
// of token, timestamp and nonce sorted lexicographically and concatenated.
func Signature(token, timestamp, nonce string) string {
	var out [40]byte
	sign(&out, token, timestamp, nonce)
	return string(out[:])
}

// MsgSignature is WeChat's `msg_signature`: like Signature with the base64
// Encrypt text as a fourth element.
func MsgSignature(token, timestamp, nonce, encrypt string) string {
	var out [40]byte
	sign(&out, token, timestamp, nonce, encrypt)
	return string(out[:])
}

// VerifySignature reports whether sig is the Signature of token, timestamp
// and nonce. The comparison takes constant time.
func VerifySignature(sig, token, timestamp, nonce string) bool {
	var out [40]byte
	sign(&out, token, timestamp, nonce)
	return equal40(&out, sig)
}

// VerifyMsgSignature reports whether sig is the MsgSignature of token,
// timestamp, nonce and encrypt. The comparison takes constant time.
func VerifyMsgSignature(sig, token, timestamp, nonce, encrypt string) bool {
	var out [40]byte
	sign(&out, token, timestamp, nonce, encrypt)
	return equal40(&out, sig)
}

func equal40(want *[40]byte, got string) bool {
	if len(got) != len(want) {
		return false
	}
	var g [40]byte
	copy(g[:], got)
	return subtle.ConstantTimeCompare(want[:], g[:]) == 1
}

// sign writes the lowercase hex SHA-1 of parts, sorted and concatenated,
// into out.
func sign(out *[40]byte, parts ...string) {
	slices.Sort(parts)
	h := sha1.New()
	for _, p := range parts {
		// Write only reads its argument, so a byte view of p is safe.
		h.Write(unsafe.Slice(unsafe.StringData(p), len(p)))
	}
	var sum [sha1.Size]byte
	hex.Encode(out[:], h.Sum(sum[:0]))
}
