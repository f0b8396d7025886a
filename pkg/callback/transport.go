package callback

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// This file is the HTTP side of a request: the path's appid, the query
// parameters, the body (bounded) and the answer's status and headers.

// MaxBodyBytes is the largest accepted push body (64 KiB).
const MaxBodyBytes = 64 << 10

// Content-Type header values of responses, shared between responses (a
// written header value is not modified in place).
var (
	ctypeText = []string{"text/plain; charset=utf-8"}
	ctypeXML  = []string{"text/xml; charset=utf-8"}
	nosniff   = []string{"nosniff"}
)

// outcome is the result of one request, for the response and the log line.
// The zero outcome means "no answer yet": the next step decides.
type outcome struct {
	status int
	name   string // log outcome
	body   []byte
	ctype  []string
}

func (o outcome) decided() bool { return o.status != 0 }

var successBody = []byte("success")

func reject(status int, name string) outcome {
	return outcome{status: status, name: name, body: []byte(http.StatusText(status)), ctype: ctypeText}
}

// receive checks the method and the size and reads a POST body into
// s.body: 413 on every request, before the signature.
func receive(r *http.Request, s *scratch) ([]byte, outcome) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, reject(http.StatusMethodNotAllowed, "bad_method")
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, reject(http.StatusRequestEntityTooLarge, "too_large")
	}
	if r.Method != http.MethodPost {
		return nil, outcome{}
	}
	body, err := readBody(r.Body, s.body[:0])
	if err == errTooLarge {
		return nil, reject(http.StatusRequestEntityTooLarge, "too_large")
	}
	if err != nil {
		return nil, reject(http.StatusBadRequest, "unreadable_body")
	}
	s.body = body
	return body, outcome{}
}

var errTooLarge = errors.New("body too large")

// readBody reads at most MaxBodyBytes into buf.
func readBody(body io.Reader, buf []byte) ([]byte, error) {
	if body == nil {
		return buf[:0], nil
	}
	if cap(buf) < 4096 {
		buf = make([]byte, 0, 4096)
	}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxBodyBytes {
				return nil, errTooLarge
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > MaxBodyBytes {
			return nil, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// pathAppID is the {appid} path value, or the last path segment.
func pathAppID(r *http.Request) string {
	if v := r.PathValue("appid"); v != "" {
		return v
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

func escaped(s string) bool {
	return strings.IndexByte(s, '%') >= 0 || strings.IndexByte(s, '+') >= 0
}

// params are the query parameters the callback reads.
type params struct {
	signature, timestamp, nonce, msgSignature, encryptType, echostr string
	hasEchostr                                                      bool
}

// parseParams reads the callback's parameters from a raw query in one pass
// without building a url.Values; the first occurrence of a key wins, as
// with url.Values.Get. Values are unescaped only when they need it.
func parseParams(raw string) params {
	var p params
	var seen [6]bool
	anyEscaped := escaped(raw) // usually false: WeChat's values are plain
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if anyEscaped && escaped(k) {
			uk, err := url.QueryUnescape(k)
			if err != nil {
				continue
			}
			k = uk
		}
		var dst *string
		var i int
		switch k {
		case "signature":
			dst, i = &p.signature, 0
		case "timestamp":
			dst, i = &p.timestamp, 1
		case "nonce":
			dst, i = &p.nonce, 2
		case "msg_signature":
			dst, i = &p.msgSignature, 3
		case "encrypt_type":
			dst, i = &p.encryptType, 4
		case "echostr":
			dst, i = &p.echostr, 5
		default:
			continue
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		if anyEscaped && escaped(v) {
			uv, err := url.QueryUnescape(v)
			if err != nil {
				continue
			}
			v = uv
		}
		*dst = v
	}
	p.hasEchostr = seen[5]
	return p
}
