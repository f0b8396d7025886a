package callback

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRoute is the application-handler hand-off alone: route() with a
// Mux handler on its own goroutine under context.WithTimeout.
func BenchmarkRoute(b *testing.B) {
	mux := NewMux()
	mux.HandleFunc(Match{MsgType: MsgTypeText}, func(ctx context.Context, m *Message) (Reply, error) {
		return nil, nil
	})
	h := &Handler{opt: Options{Routes: mux, HandlerTimeout: 4 * time.Second}}
	msg := &Message{MsgType: MsgTypeText, Content: "x"}
	ctx := context.Background()
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name string
		ctx  context.Context
	}{{"background", ctx}, {"cancelable", cctx}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, timedOut := h.route(bc.ctx, nil, msg, h.opt.HandlerTimeout); timedOut {
					b.Fatal("timed out")
				}
			}
		})
	}
}
