package tokenclienttest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/tokenclient/tokenclienttest"
)

const appid = "wx0123456789abcdef"

// A function under test takes a *tokenclient.Client; the test hands it one
// over a Reader holding the token it should see.
func ExampleReader() {
	now := time.Unix(1_800_000_000, 0)
	var reader tokenclienttest.Reader
	reader.Put(credential.Credential{AppID: appid, Kind: credential.AccessToken,
		Value: "token-1", ExpiresAt: now.Add(2 * time.Hour), Version: 1})
	tc := tokenclient.New(&reader, tokenclient.WithClock(func() time.Time { return now }))

	cred, err := tc.Get(context.Background(), appid, credential.AccessToken)
	fmt.Println(cred.Value, err)
	_, err = tc.Get(context.Background(), appid, credential.JSAPITicket)
	fmt.Println(errors.Is(err, credential.ErrNotFound))
	// Output:
	// token-1 <nil>
	// true
}

func TestReaderThroughClient(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	quiet := tokenclient.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))
	ctx := context.Background()
	var r tokenclienttest.Reader

	r.Put(credential.Credential{AppID: appid, Kind: credential.AccessToken, Value: "old", ExpiresAt: now.Add(-time.Minute)})
	tc := tokenclient.New(&r, tokenclient.WithClock(clock), quiet)
	if _, err := tc.Get(ctx, appid, credential.AccessToken); !errors.Is(err, credential.ErrUnavailable) {
		t.Fatalf("expired credential: err = %v, want ErrUnavailable", err)
	}

	r.Put(credential.Credential{AppID: appid, Kind: credential.AccessToken, Value: "new", ExpiresAt: now.Add(time.Hour), Version: 2})
	for range 3 {
		if c, err := tc.Get(ctx, appid, credential.AccessToken); err != nil || c.Value != "new" || c.Version != 2 {
			t.Fatalf("Get = %+v, %v; want the credential Put", c, err)
		}
	}
	if n := r.Reads(); n != 2 {
		t.Errorf("Reads = %d, want 2 (one refused, one cached for the next Gets)", n)
	}

	outage := errors.New("store down")
	r.Fail(outage)
	fresh := tokenclient.New(&r, tokenclient.WithClock(clock), quiet)
	if _, err := fresh.Get(ctx, appid, credential.AccessToken); !errors.Is(err, outage) || !errors.Is(err, credential.ErrUnavailable) {
		t.Errorf("failing store: err = %v, want it to wrap the store error and ErrUnavailable", err)
	}
	r.Fail(nil)
	r.Delete(appid, credential.AccessToken)
	if _, err := fresh.Get(ctx, appid, credential.AccessToken); !errors.Is(err, credential.ErrNotFound) {
		t.Errorf("deleted credential: err = %v, want ErrNotFound", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Read(cctx, appid, credential.AccessToken); !errors.Is(err, context.Canceled) {
		t.Errorf("Read with a cancelled context: err = %v", err)
	}
}
