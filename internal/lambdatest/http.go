package lambdatest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/wxcentral/wxcentral/pkg/lambdahttp/lambdahttptest"
)

// HTTPHandler serves HTTP by invoking the function with payload-2.0 events,
// as an API Gateway HTTP API or a Function URL in front of it would: the
// request becomes an event (lambdahttptest.NewEvent; mount the handler on a
// ServeMux pattern such as "POST /wechat/{appid}" to get that route key and
// path parameters), the function's payload becomes the response
// (lambdahttptest.DecodeResponse). As with API Gateway, a function error or an
// unusable response is answered 500 {"message":"Internal Server Error"} and
// a body over 6 MB 413.
func (f *Function) HTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := lambdahttptest.NewEvent(r)
		if errors.Is(err, lambdahttptest.ErrPayloadTooLarge) {
			gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		if err != nil {
			gatewayError(w, http.StatusBadRequest, "Bad Request")
			return
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		out, err := f.Invoke(r.Context(), payload)
		if err != nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		resp, err := lambdahttptest.DecodeResponse(out)
		if err != nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		if err := lambdahttptest.WriteResponse(w, resp); err != nil {
			var corrupt base64.CorruptInputError
			if errors.As(err, &corrupt) { // nothing written yet
				gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			}
		}
	})
}

// gatewayError answers as API Gateway does when the integration fails.
func gatewayError(w http.ResponseWriter, status int, message string) {
	b, _ := json.Marshal(map[string]string{"message": message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
