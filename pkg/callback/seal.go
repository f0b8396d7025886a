package callback

import (
	"io"
	"net/http"
	"strconv"
	"unsafe"
)

// This file is the answer: a reply's plaintext XML is sent as it is to a
// plaintext push, and sealed (encrypted and signed, with the key that
// decrypted the push) for an encrypted one; no reply is `success`.

// answer writes the reply plaintext (encrypted when the request was);
// an empty reply is `success`, never encrypted.
func (h *Handler) answer(a *app, s *scratch, plain []byte, c *Cipher, nonce, name string) outcome {
	if len(plain) == 0 {
		return outcome{status: 200, name: name, body: successBody, ctype: ctypeText}
	}
	if c == nil {
		s.out = append(s.out[:0], plain...)
		return outcome{status: 200, name: name, body: s.out, ctype: ctypeXML}
	}
	random := &s.random
	if _, err := io.ReadFull(h.opt.Random, random[:]); err != nil {
		return reject(http.StatusServiceUnavailable, "random_failed")
	}
	ts := strconv.AppendInt(s.ts[:0], h.opt.Clock().Unix(), 10)
	s.out = appendEncryptedReply(s.out[:0], &s.seal, c, a.token, unsafe.String(unsafe.SliceData(ts), len(ts)), nonce, random, plain)
	return outcome{status: 200, name: name, body: s.out, ctype: ctypeXML}
}
