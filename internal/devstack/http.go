package devstack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxcentral/wxcentral/pkg/tokenserver"
)

// maxInvokeBytes bounds a POST /dev/refresh body.
const maxInvokeBytes = 64 << 10

// routes mounts the three handlers on one mux (docs/operations.md).
func routes(token http.Handler, cb http.Handler, invoke func(context.Context, []byte) ([]byte, error)) http.Handler {
	mux := http.NewServeMux()
	// The token server checks methods itself and answers JSON errors.
	mux.Handle(tokenserver.PathToken, token)
	mux.Handle(tokenserver.PathInvalidate, token)
	mux.Handle("GET /wechat/{appid}", cb)
	mux.Handle("POST /wechat/{appid}", cb)
	mux.Handle("POST /component/{component_appid}", cb)
	mux.Handle("POST "+PathRefresh, refreshHandler(invoke))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "wxcentral local stack\n\n"+
			"GET  /token?appid=<appid>&kind=access_token|jsapi_ticket|wx_card_ticket\n"+
			"POST /token/invalidate   {\"appid\",\"kind\",\"token\"}\n"+
			"GET  /wechat/<appid>     WeChat handshake\n"+
			"POST /wechat/<appid>     WeChat pushes\n"+
			"POST /component/<component_appid>  a third-party platform's authorization events\n"+
			"POST "+PathRefresh+"      {\"action\":\"sweep\"} or {\"action\":\"force\",\"appid\",\"kind\",\"stale_token\"}\n")
	})
	return mux
}

// refreshHandler exposes the refresh function's direct-invoke protocol
// over HTTP for `wxcentral refresh` against the local stack: the body is
// the invoke payload, the answer its JSON result; a function error is 500
// {"errorMessage"}, as Lambda reports it.
func refreshHandler(invoke func(context.Context, []byte) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvokeBytes))
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			json.NewEncoder(w).Encode(map[string]string{"errorMessage": "payload over 64 KiB"})
			return
		}
		if len(body) == 0 {
			body = []byte("{}")
		}
		if !json.Valid(body) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"errorMessage": "payload is not JSON"})
			return
		}
		out, err := invoke(r.Context(), body)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			json.NewEncoder(w).Encode(map[string]string{"errorMessage": err.Error()})
			return
		}
		w.Write(out)
	}
}

// accessLog logs one line per request: method, path (never the query,
// which carries signatures), status and duration.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("took", time.Since(start).Round(time.Microsecond)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
