package dynamo_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

func newStore(t *testing.T) (*dynamo.CredentialStore, *dynamodb.Client, string) {
	t.Helper()
	client, table := dynamotest.NewTable(t)
	return dynamo.NewCredentialStore(client, table), client, table
}

func fullRecord() credential.Record {
	return credential.Record{
		Credential: credential.Credential{
			AppID: "wx0123456789abcdef", Kind: credential.AccessToken, Value: "TOKEN-A",
			ExpiresAt: time.Unix(1_800_007_200, 0), RefreshedAt: time.Unix(1_800_000_000, 0), Version: 3,
		},
		LeaseOwner: "owner-1", LeaseUntil: time.UnixMilli(1_800_000_030_123),
		ForceDay: "2027-01-15", ForceCount: 2, LastForceAt: time.Unix(1_800_000_100, 0),
		LastErrorCode: 40164, LastError: "configuration: errcode 40164", LastErrorAt: time.Unix(1_800_000_200, 0),
		DueAt: time.Unix(1_800_006_910, 0), ComponentAppID: "wxc0mp0nent0000001",
	}
}

// The item layout is the public contract of docs/dynamodb.md: check each
// attribute's name, type and unit on the raw item.
func TestCredentialItemLayout(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	rec := fullRecord()
	if err := store.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#wx0123456789abcdef#access_token"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pk": "S:cred#wx0123456789abcdef#access_token", "value": "S:TOKEN-A",
		"expires_at": "N:1800007200", "refreshed_at": "N:1800000000", "refreshed_at_ms": "N:1800000000000", "version": "N:3",
		"lease_owner": "S:owner-1", "lease_until": "N:1800000030123",
		"force_day": "S:2027-01-15", "force_count": "N:2", "last_force_at": "N:1800000100", "last_force_at_ms": "N:1800000100000",
		"last_error_code": "N:40164", "last_error": "S:configuration: errcode 40164", "last_error_at": "N:1800000200",
		"last_error_at_ms": "N:1800000200000",
		"due_at":           "N:1800006910", "due_shard": "S:0", "component_appid": "S:wxc0mp0nent0000001",
	}
	got := map[string]string{}
	for k, v := range out.Item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			got[k] = "S:" + v.Value
		case *types.AttributeValueMemberN:
			got[k] = "N:" + v.Value
		default:
			got[k] = "other"
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("item:\n got %v\nwant %v", got, want)
	}
}

func TestCredentialGet(t *testing.T) {
	store, _, _ := newStore(t)
	ctx := context.Background()
	rec := fullRecord()
	if err := store.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	minimal := credential.Record{Credential: credential.Credential{AppID: "wxb", Kind: credential.JSAPITicket,
		Value: "TICKET", ExpiresAt: time.Unix(100, 0), RefreshedAt: time.Unix(50, 0), Version: 1}}
	if err := store.Put(ctx, minimal); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		appid      string
		kind       credential.Kind
		consistent bool
		want       credential.Record
		wantErr    error
	}{
		{"full item, consistent", rec.AppID, rec.Kind, true, rec, nil},
		{"full item, eventually consistent", rec.AppID, rec.Kind, false, rec, nil},
		{"expired item is returned as stored", "wxb", credential.JSAPITicket, true, minimal, nil},
		{"absent kind", rec.AppID, credential.WXCardTicket, true, credential.Record{}, credential.ErrNotFound},
		{"absent app", "wxnone", credential.AccessToken, true, credential.Record{}, credential.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.Get(ctx, tc.appid, tc.kind, tc.consistent)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !recordsEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCredentialGetMalformedItem(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{"version not a number", map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "cred#wxa#access_token"}, "version": &types.AttributeValueMemberS{Value: "x"}}, "version: not a number"},
		{"expires_at not an integer", map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "cred#wxa#access_token"}, "expires_at": &types.AttributeValueMemberN{Value: "1.5"}}, "expires_at: not an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: tc.item}); err != nil {
				t.Fatal(err)
			}
			_, err := store.Get(ctx, "wxa", credential.AccessToken, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestCredentialList(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	var want []credential.Record
	for _, app := range []string{"wxa", "wxb", "wx#odd"} {
		for _, k := range credential.Kinds {
			r := credential.Record{Credential: credential.Credential{AppID: app, Kind: k, Value: app + string(k),
				ExpiresAt: time.Unix(7200, 0), RefreshedAt: time.Unix(1, 0), Version: 1}}
			if err := store.Put(ctx, r); err != nil {
				t.Fatal(err)
			}
			want = append(want, r)
		}
	}
	// A callback dedupe item shares the table and must not be listed.
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "msg#wxa#123"}, "status": &types.AttributeValueMemberS{Value: "COMPLETED"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := func(r credential.Record) string { return credential.Key(r.AppID, r.Kind) }
	sort.Slice(got, func(i, j int) bool { return key(got[i]) < key(got[j]) })
	sort.Slice(want, func(i, j int) bool { return key(want[i]) < key(want[j]) })
	if len(got) != len(want) {
		t.Fatalf("listed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !recordsEqual(got[i], want[i]) {
			t.Errorf("record %d: got %+v want %+v", i, got[i], want[i])
		}
	}
}

func recordsEqual(a, b credential.Record) bool {
	eqT := func(x, y time.Time) bool { return x.Equal(y) }
	return a.AppID == b.AppID && a.Kind == b.Kind && a.Value == b.Value && eqT(a.ExpiresAt, b.ExpiresAt) &&
		eqT(a.RefreshedAt, b.RefreshedAt) && a.Version == b.Version && a.LeaseOwner == b.LeaseOwner &&
		eqT(a.LeaseUntil, b.LeaseUntil) && a.ForceDay == b.ForceDay && a.ForceCount == b.ForceCount &&
		eqT(a.LastForceAt, b.LastForceAt) && a.LastErrorCode == b.LastErrorCode && a.LastError == b.LastError &&
		eqT(a.LastErrorAt, b.LastErrorAt)
}

// last_error_at stays unix seconds (the public contract); last_error_at_ms
// beside it keeps the failure's millisecond, which a forced refresh needs to
// order it against a report from the same second. A commit removes both; an
// item written before last_error_at_ms reads as the start of its second.
func TestLastErrorAtKeepsMilliseconds(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	appid := "wx0123456789abcdef"
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#" + appid + "#access_token"}}
	raw := func() map[string]types.AttributeValue {
		t.Helper()
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item
	}
	at := time.UnixMilli(1_800_000_200_750)
	if _, err := store.TakeLease(ctx, appid, credential.AccessToken, "me", at, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := store.RecordFailure(ctx, appid, credential.AccessToken, "me", credential.Failure{Code: -1, Message: "transient", At: at}); err != nil {
		t.Fatal(err)
	}
	item := raw()
	sec, _ := item["last_error_at"].(*types.AttributeValueMemberN)
	ms, _ := item["last_error_at_ms"].(*types.AttributeValueMemberN)
	if sec == nil || sec.Value != "1800000200" || ms == nil || ms.Value != "1800000200750" {
		t.Fatalf("last_error_at %v, last_error_at_ms %v; want 1800000200 and 1800000200750", item["last_error_at"], item["last_error_at_ms"])
	}
	if got, _ := store.Get(ctx, appid, credential.AccessToken, true); !got.LastErrorAt.Equal(at) {
		t.Fatalf("LastErrorAt %v, want %v", got.LastErrorAt, at)
	}
	if _, err := store.TakeLease(ctx, appid, credential.AccessToken, "next", at, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Commit(ctx, appid, credential.AccessToken, credential.Commit{Owner: "next", Value: "TOKEN-A",
		ExpiresAt: at.Add(2 * time.Hour), RefreshedAt: at}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"last_error_code", "last_error", "last_error_at", "last_error_at_ms"} {
		if _, ok := raw()[name]; ok {
			t.Errorf("%s left after a commit", name)
		}
	}
	// An item from before last_error_at_ms.
	old := raw()
	old["last_error_code"] = &types.AttributeValueMemberN{Value: "-1"}
	old["last_error"] = &types.AttributeValueMemberS{Value: "transient"}
	old["last_error_at"] = &types.AttributeValueMemberN{Value: "1800000300"}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: old}); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get(ctx, appid, credential.AccessToken, true); !got.LastErrorAt.Equal(time.Unix(1_800_000_300, 0)) {
		t.Fatalf("LastErrorAt of an item without last_error_at_ms: %v, want the start of its second", got.LastErrorAt)
	}
}
