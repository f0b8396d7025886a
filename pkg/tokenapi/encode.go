package tokenapi

import (
	"encoding/json"
	"strconv"
)

// AppendJSON appends a's JSON to b: the six credential fields, every one
// present, or exactly {"error","message"}. It is hand-written because the
// encoding is most of the token function's warm path (target ≤ 5 µs):
// encoding/json adds about 1 µs and 2 allocations per request there.
func (a Answer) AppendJSON(b []byte) []byte {
	if a.Error != "" {
		b = append(b, `{"error":`...)
		b = appendString(b, a.Error)
		b = append(b, `,"message":`...)
		b = appendString(b, a.Message)
		return append(b, '}')
	}
	b = append(b, `{"appid":`...)
	b = appendString(b, a.AppID)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(a.Kind))
	b = append(b, `,"token":`...)
	b = appendString(b, a.Token)
	b = append(b, `,"expires_at":`...)
	b = strconv.AppendInt(b, a.ExpiresAt, 10)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, a.ExpiresIn, 10)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, a.Version, 10)
	return append(b, '}')
}

// MarshalJSON encodes a through AppendJSON, so json.Marshal of an Answer
// anywhere writes the same bytes the token function does.
func (a Answer) MarshalJSON() ([]byte, error) { return a.AppendJSON(make([]byte, 0, 256)), nil }

// appendString appends s as a JSON string. Tokens, appids and our messages
// are printable ASCII; anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
