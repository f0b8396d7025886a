package tokenclient_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// countingAPI counts GetItem calls made through the real client.
type countingAPI struct {
	dynamo.API
	gets atomic.Int64
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.gets.Add(1)
	return c.API.GetItem(ctx, in, optFns...)
}

func record(appid string, kind credential.Kind, value string, expiresAt time.Time, version int64) credential.Record {
	return credential.Record{Credential: credential.Credential{AppID: appid, Kind: kind, Value: value,
		ExpiresAt: expiresAt, RefreshedAt: expiresAt.Add(-2 * time.Hour), Version: version}}
}

func TestColdKeyOneReadDynalite(t *testing.T) {
	client, table := dynamotest.NewTable(t)
	api := &countingAPI{API: client}
	store := dynamo.NewCredentialStore(api, table)
	clk := wechattest.NewClock(time.Now().Truncate(time.Second))
	ctx := context.Background()
	if err := store.Put(ctx, record("wxcold", credential.AccessToken, "tok-cold", clk.Now().Add(2*time.Hour), 4)); err != nil {
		t.Fatal(err)
	}
	api.gets.Store(0)
	c := tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithClock(clk.Now))

	const n = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := c.Get(ctx, "wxcold", credential.AccessToken)
			if err != nil || got.Value != "tok-cold" || got.Version != 4 {
				bad.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d Gets did not return the stored token", bad.Load(), n)
	}
	if got := api.gets.Load(); got != 1 {
		t.Fatalf("%d concurrent Gets of a cold key made %d DynamoDB reads, want 1", n, got)
	}
}

// TestDynamoStoppedMidTest stops dynalite with values cached: a usable one
// is still served, an expired one and an uncached one are ErrUnavailable.
func TestDynamoStoppedMidTest(t *testing.T) {
	s := dynamotest.Start(t)
	client, table := s.NewTable(t)
	store := dynamo.NewCredentialStore(client, table)
	clk := wechattest.NewClock(time.Now().Truncate(time.Second))
	ctx := context.Background()
	for _, r := range []credential.Record{
		record("wxlong", credential.AccessToken, "tok-long", clk.Now().Add(2*time.Hour), 1),
		record("wxshort", credential.AccessToken, "tok-short", clk.Now().Add(75*time.Second), 1),
		record("wxuncached", credential.AccessToken, "tok-uncached", clk.Now().Add(2*time.Hour), 1),
	} {
		if err := store.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	c := tokenclient.New(tokenclient.NewStoreReader(store), tokenclient.WithClock(clk.Now),
		tokenclient.WithReadTimeout(3*time.Second))
	for _, appid := range []string{"wxlong", "wxshort"} {
		if _, err := c.Get(ctx, appid, credential.AccessToken); err != nil {
			t.Fatalf("warm %s: %v", appid, err)
		}
	}

	s.Stop()
	clk.Advance(61 * time.Second) // past the cache age: every Get tries DynamoDB

	tests := []struct {
		appid   string
		want    string
		wantErr error
	}{
		{"wxlong", "tok-long", nil},                   // cached and usable
		{"wxshort", "", credential.ErrUnavailable},    // cached but 14 s from expiry... see below
		{"wxuncached", "", credential.ErrUnavailable}, // never cached
	}
	// wxshort expires 75 s after the start: at +61 s it is 14 s from expiry,
	// still usable; move on 5 s so it is within the 10 s margin.
	if got, err := c.Get(ctx, "wxshort", credential.AccessToken); err != nil || got.Value != "tok-short" {
		t.Fatalf("wxshort at +61s: %q, %v; want the cached value", got.Value, err)
	}
	clk.Advance(5 * time.Second)
	for _, tt := range tests {
		got, err := c.Get(ctx, tt.appid, credential.AccessToken)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: Get = %q, %v; want %v", tt.appid, got.Value, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.Value != tt.want {
			t.Fatalf("%s: Get = %q, %v; want %q", tt.appid, got.Value, err, tt.want)
		}
	}
}

// BenchmarkColdRead measures a cache miss served by dynalite (one GetItem
// over loopback and the item decode): the price of each 60 s refill.
func BenchmarkColdRead(b *testing.B) {
	client, table := dynamotest.NewTable(b)
	store := dynamo.NewCredentialStore(client, table)
	ctx := context.Background()
	if err := store.Put(ctx, record("wxbench", credential.AccessToken, "tok", time.Now().Add(2*time.Hour), 1)); err != nil {
		b.Fatal(err)
	}
	c := tokenclient.New(tokenclient.NewStoreReader(store))
	b.ReportAllocs()
	for b.Loop() {
		c.Forget("wxbench", credential.AccessToken)
		if _, err := c.Get(ctx, "wxbench", credential.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
