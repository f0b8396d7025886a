package tokenserver

import (
	"net/url"
	"strings"
)

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
