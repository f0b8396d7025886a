package tokenclient_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Do retries once with a new token when WeChat rejects the cached one. In
// production the Reader is tokenclient.NewStoreReader over the DynamoDB
// table and the Invalidator lambdainvoke.New (the refresh function).
func ExampleClient_Do() {
	now := time.Unix(1_800_000_000, 0)
	stored := credential.Credential{AppID: "wx0123456789abcdef", Kind: credential.AccessToken,
		Value: "token-1", ExpiresAt: now.Add(2 * time.Hour), Version: 1}
	reader := tokenclient.ReaderFunc(func(context.Context, string, credential.Kind) (credential.Credential, error) {
		return stored, nil
	})
	refresh := tokenclient.InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, stale string) (credential.Credential, error) {
		fmt.Println("forced refresh reported for", kind)
		stored.Value, stored.Version = "token-2", 2
		return stored, nil
	})
	c := tokenclient.New(reader, tokenclient.WithInvalidator(refresh), tokenclient.WithClock(func() time.Time { return now }),
		tokenclient.WithLogger(discard()))

	err := c.Do(context.Background(), "wx0123456789abcdef", func(token string) error {
		if token == "token-1" {
			return &wechat.Error{Code: wechat.CodeInvalidCredential, Msg: "invalid credential"}
		}
		fmt.Println("call succeeded with", token)
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// forced refresh reported for access_token
	// call succeeded with token-2
	// error: <nil>
}
