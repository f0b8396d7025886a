package callback_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

func ExampleNewHandler() {
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{MsgType: callback.MsgTypeText, ContentPrefix: "help"}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		return callback.TextReply{Content: "How can we help?"}, nil
	})
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: "wx0123456789abcdef", Token: "token",
		EncodingAESKey: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", Mode: callback.ModeSafe}}}
	h, err := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), Routes: mux, Store: callback.NewMemoryStore()})
	if err != nil {
		panic(err)
	}
	http.Handle("/wechat/{appid}", h)
	fmt.Println("ready")
	// Output: ready
}
