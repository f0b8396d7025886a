package callback

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"sync"
	"unsafe"
)

// digest is a pooled SHA-1 state with room for its sum, so hashing long
// inputs (msg_signature over Encrypt) allocates nothing.
type digest struct {
	h   hash.Hash
	sum [sha1.Size]byte
}

var sha1Pool = sync.Pool{New: func() any { return &digest{h: sha1.New()} }}

// Signature is WeChat's `signature` query parameter: the lowercase hex SHA-1
// of token, timestamp and nonce sorted lexicographically and concatenated.
func Signature(token, timestamp, nonce string) string {
	var out [40]byte
	sign(&out, token, timestamp, nonce, "", 3)
	return string(out[:])
}

// MsgSignature is WeChat's `msg_signature`: like Signature with the base64
// Encrypt text as a fourth element.
func MsgSignature(token, timestamp, nonce, encrypt string) string {
	var out [40]byte
	sign(&out, token, timestamp, nonce, encrypt, 4)
	return string(out[:])
}

// VerifySignature reports whether sig is the Signature of token, timestamp
// and nonce. The comparison takes constant time.
func VerifySignature(sig, token, timestamp, nonce string) bool {
	var out [40]byte
	sign(&out, token, timestamp, nonce, "", 3)
	return equal40(&out, sig)
}

// VerifyMsgSignature reports whether sig is the MsgSignature of token,
// timestamp, nonce and encrypt. The comparison takes constant time.
func VerifyMsgSignature(sig, token, timestamp, nonce, encrypt string) bool {
	return verifyMsgSignature(nil, sig, token, timestamp, nonce, encrypt)
}

func verifyMsgSignature(dg *digest, sig, token, timestamp, nonce, encrypt string) bool {
	var out [40]byte
	signWith(dg, &out, token, timestamp, nonce, encrypt, 4)
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

// sign writes the hex digest of the n first parts, sorted, into out. It
// sorts a fixed array in place so that signing does not allocate.
func sign(out *[40]byte, a, b, c, d string, n int) { signWith(nil, out, a, b, c, d, n) }

// signWith is sign with the caller's digest for long inputs (the Handler
// keeps one per pooled scratch); nil takes one from sha1Pool.
func signWith(dg *digest, out *[40]byte, a, b, c, d string, n int) {
	parts := [4]string{a, b, c, d}
	p := parts[:n]
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j] < p[j-1]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	total := 0
	for _, s := range p {
		total += len(s)
	}
	var sum [sha1.Size]byte
	if total <= 128 {
		// Short inputs (the `signature` check): concatenate on the stack.
		var buf [128]byte
		b := buf[:0]
		for _, s := range p {
			b = append(b, s...)
		}
		sum = sha1.Sum(b)
	} else {
		pooled := dg == nil
		if pooled {
			dg = sha1Pool.Get().(*digest)
		} else if dg.h == nil {
			dg.h = sha1.New()
		}
		dg.h.Reset()
		for _, s := range p {
			// Write only reads its argument, so a byte view of s is safe.
			dg.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
		}
		sum = [sha1.Size]byte(dg.h.Sum(dg.sum[:0]))
		if pooled {
			sha1Pool.Put(dg)
		}
	}
	hex.Encode(out[:], sum[:])
}
