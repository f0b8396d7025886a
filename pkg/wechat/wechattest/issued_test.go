package wechattest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/wxcentral/wxcentral/pkg/wechat"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// TestIssuedValues: every stable token, forced-out token and ticket handed
// out is listed, and nothing else.
func TestIssuedValues(t *testing.T) {
	srv := wechattest.NewServer()
	defer srv.Close()
	srv.AddApp("wxissued", "secret-issued")
	if got := srv.IssuedValues(); len(got) != 0 {
		t.Fatalf("before any call: %d values", len(got))
	}
	c := wechat.NewClient(wechat.WithBaseURL(srv.URL))
	ctx := context.Background()
	tok, err := c.StableToken(ctx, "wxissued", "secret-issued", false)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := srv.ForceRotate("wxissued")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := c.GetTicket(ctx, rotated, "jsapi")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{tok.AccessToken, rotated, tk.Ticket}
	slices.Sort(want)
	if got := srv.IssuedValues(); !slices.Equal(got, want) {
		t.Fatalf("IssuedValues = %d values, want the %d issued", len(got), len(want))
	}
}
