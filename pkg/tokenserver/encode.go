package tokenserver

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/wxcentral/wxcentral/pkg/tokenclient"
)

// appendAnswer writes a as the JSON object of DESIGN.md §6: the six
// credential fields, or exactly {"error","message"}. It is hand-written
// because it is most of the cost of a warm request.
func appendAnswer(b []byte, a tokenclient.Answer) []byte {
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

// queryParams returns the first appid and kind of a raw query string
// without building a url.Values map.
func queryParams(raw string) (appid, kind string, err error) {
	var seenAppID, seenKind bool
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, value, _ := strings.Cut(pair, "=")
		var dst *string
		switch {
		case key == "appid" && !seenAppID:
			dst, seenAppID = &appid, true
		case key == "kind" && !seenKind:
			dst, seenKind = &kind, true
		default:
			continue
		}
		if strings.ContainsAny(value, "%+") {
			v, uerr := url.QueryUnescape(value)
			if uerr != nil {
				return "", "", &queryError{field: key}
			}
			value = v
		}
		*dst = value
	}
	return appid, kind, nil
}

type queryError struct{ field string }

func (e *queryError) Error() string {
	return e.field + ": invalid percent-encoding in the query string"
}
