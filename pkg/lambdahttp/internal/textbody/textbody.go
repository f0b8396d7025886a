// Package textbody decides which bodies travel as plain text in a
// payload-2.0 event or response, so the function side (lambdahttp) and the
// gateway side (lambdahttptest) encode bodies by one rule.
package textbody

import (
	"mime"
	"strings"
)

// IsText reports whether a Content-Type names text that survives the trip
// through a JSON string unchanged: text/*, JSON, XML, JavaScript, form data,
// or anything declaring a charset.
func IsText(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if _, ok := params["charset"]; ok {
		return true
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript", mt == "application/x-www-form-urlencoded":
		return true
	}
	return false
}
