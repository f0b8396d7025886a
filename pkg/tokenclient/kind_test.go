package tokenclient

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// A kind other than the three is a clear error naming the field, from Get
// and from Invalidate alike: never a panic, never a call to the refresh
// function.
func TestBadKindIsAnError(t *testing.T) {
	clk := newClock()
	store := newMemStore()
	store.put(credential.Credential{AppID: "wxa", Kind: credential.AccessToken, Value: "T", ExpiresAt: clk.Now().Add(time.Hour), Version: 1})
	var forced int
	inv := InvalidatorFunc(func(_ context.Context, appid string, kind credential.Kind, _ string) (credential.Credential, error) {
		forced++
		return credential.Credential{AppID: appid, Kind: credential.AccessToken, Value: "T2", ExpiresAt: clk.Now().Add(time.Hour), Version: 2}, nil
	})
	c := New(store, WithClock(clk.Now), WithInvalidator(inv), WithLogger(discardLogger()))
	for _, kind := range []credential.Kind{"", "refresh_token", "ACCESS_TOKEN"} {
		t.Run("kind "+string(kind), func(t *testing.T) {
			ops := map[string]func() error{
				"Get": func() error { _, err := c.Get(context.Background(), "wxa", kind); return err },
				"Invalidate": func() error {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("Invalidate panicked: %v", p)
						}
					}()
					_, err := c.Invalidate(context.Background(), "wxa", kind, "T")
					return err
				},
			}
			for name, op := range ops {
				if err := op(); err == nil || !strings.Contains(err.Error(), "kind") {
					t.Fatalf("%s: err = %v, want an error naming kind", name, err)
				}
			}
		})
	}
	if forced != 0 {
		t.Fatalf("the refresh function was asked %d times for a bad kind", forced)
	}
}

// Every kind wxcentral stores is served: WeCom's agent_config_ticket and a
// platform's component_access_token as much as an access_token.
func TestEveryKindIsServed(t *testing.T) {
	if numKinds != len(credential.Kinds) {
		t.Fatalf("numKinds %d, credential.Kinds has %d", numKinds, len(credential.Kinds))
	}
	clk := newClock()
	store := newMemStore()
	c := New(store, WithClock(clk.Now), WithLogger(discardLogger()))
	for i, k := range credential.Kinds {
		store.put(credential.Credential{AppID: "wxa", Kind: k, Value: "V-" + string(k), ExpiresAt: clk.Now().Add(time.Hour), Version: int64(i + 1)})
	}
	for _, k := range credential.Kinds {
		got, err := c.Get(context.Background(), "wxa", k)
		if err != nil || got.Value != "V-"+string(k) || got.Kind != k {
			t.Errorf("Get %s = %+v, %v", k, got, err)
		}
	}
}
