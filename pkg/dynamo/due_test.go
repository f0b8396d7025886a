package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// rawDue reads due_at, due_shard and component_appid of an item as stored.
func rawDue(t *testing.T, client *dynamodb.Client, table, pk string) (due, shard, cpa string) {
	t.Helper()
	out, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item["due_at"].(*types.AttributeValueMemberN); ok {
		due = v.Value
	}
	if v, ok := out.Item["due_shard"].(*types.AttributeValueMemberS); ok {
		shard = v.Value
	}
	if v, ok := out.Item["component_appid"].(*types.AttributeValueMemberS); ok {
		cpa = v.Value
	}
	return due, shard, cpa
}

func unix(t time.Time) string { return fmt.Sprint(t.Unix()) }

// Every write that sets a value puts the item in the due index; a lease on
// an item without due_at makes it due now, and failures and releases leave
// due_at alone (a failed item stays due).
func TestEveryValueWriteCarriesDueAt(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	const app = "wxdue00000000000a"

	// Lease on a new item: due now.
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "o1", now, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if due, shard, _ := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(now) || shard != dynamo.DueShardAll {
		t.Fatalf("after the first lease: due_at %q due_shard %q, want %d %q", due, shard, now.Unix(), dynamo.DueShardAll)
	}
	// A failure keeps it due.
	if err := store.RecordFailure(ctx, app, credential.AccessToken, "o1", credential.Failure{Code: -1, Message: "transient", At: now}); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(now) {
		t.Fatalf("after a failure: due_at %q", due)
	}
	// Commit: due_at and component_appid as given.
	later := now.Add(time.Minute)
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "o2", later, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(now) {
		t.Fatalf("a lease moved due_at: %q", due)
	}
	exp := later.Add(7200 * time.Second)
	due1 := exp.Add(-credential.AccessTokenLead)
	if _, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{Owner: "o2", Value: "T1", ExpiresAt: exp, RefreshedAt: later,
		DueAt: due1, ComponentAppID: "wxc0mp0nent0000001"}); err != nil {
		t.Fatal(err)
	}
	if due, shard, cpa := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(due1) || shard != dynamo.DueShardAll || cpa != "wxc0mp0nent0000001" {
		t.Fatalf("after commit: %q %q %q", due, shard, cpa)
	}
	// A lease on an indexed item and its release leave due_at alone.
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "o3", later, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := store.ReleaseLease(ctx, app, credential.AccessToken, "o3"); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(due1) {
		t.Fatalf("lease and release moved due_at: %q", due)
	}
	// CommitUnleased.
	exp2 := exp.Add(time.Hour)
	due2 := exp2.Add(-credential.AccessTokenLead)
	if _, err := store.CommitUnleased(ctx, app, credential.AccessToken, credential.Commit{PrevValue: "T1", Value: "T2", ExpiresAt: exp2,
		RefreshedAt: later.Add(time.Second), DueAt: due2}); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := rawDue(t, client, table, credential.Key(app, credential.AccessToken)); due != unix(due2) {
		t.Fatalf("after commit without lease: %q", due)
	}
	// A pushed verify ticket: due VerifyTicketMaxAge after its CreateTime.
	ct := now.Add(-time.Minute)
	if _, err := store.PutVerifyTicket(ctx, "wxc0mp0nent0000001", "ticket@@@1", ct); err != nil {
		t.Fatal(err)
	}
	if due, shard, _ := rawDue(t, client, table, credential.Key("wxc0mp0nent0000001", credential.ComponentVerifyTicket)); due != unix(ct.Add(credential.VerifyTicketMaxAge)) || shard != dynamo.DueShardAll {
		t.Fatalf("verify ticket: due_at %q due_shard %q", due, shard)
	}
	// Put (seeding) without DueAt: credential.DueAt of its expiry.
	if err := store.Put(ctx, credential.Record{Credential: credential.Credential{AppID: app, Kind: credential.JSAPITicket, Value: "K", ExpiresAt: exp, RefreshedAt: later, Version: 1}}); err != nil {
		t.Fatal(err)
	}
	if due, _, _ := rawDue(t, client, table, credential.Key(app, credential.JSAPITicket)); due != unix(exp.Add(-credential.TicketLead)) {
		t.Fatalf("seeded ticket: due_at %q", due)
	}
	rec, err := store.Get(ctx, app, credential.AccessToken, true)
	if err != nil || !rec.DueAt.Equal(due2) || rec.ComponentAppID != "wxc0mp0nent0000001" {
		t.Fatalf("decoded %+v %v", rec, err)
	}
}

// The index query returns the entries due by its bound, and only those, in
// due_at order; an item without due_at is not in it, a foreign one is skipped.
func TestDueItemsFindsDueOnly(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	const n = 1200
	var wantDue []string
	for i := 0; i < n; i++ {
		app := fmt.Sprintf("wx%016d", i)
		due := now.Add(time.Duration(i-n/10) * time.Minute) // the first n/10 are due (<= now)
		if err := store.Put(ctx, credential.Record{Credential: credential.Credential{AppID: app, Kind: credential.AccessToken, Value: "T",
			ExpiresAt: due.Add(credential.AccessTokenLead), RefreshedAt: now, Version: 1}, DueAt: due}); err != nil {
			t.Fatal(err)
		}
		if !due.After(now) {
			wantDue = append(wantDue, app)
		}
	}
	// An item without due_at (written before the index) and a dedupe item.
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: credential.Key("wxold", credential.AccessToken)}, "value": &types.AttributeValueMemberS{Value: "OLD"},
		"expires_at": &types.AttributeValueMemberN{Value: "1"}}}); err != nil {
		t.Fatal(err)
	}
	// A foreign item that found its way into the index is skipped, never an
	// error that would stop every sweep.
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "msg#wxa#1"}, "due_shard": &types.AttributeValueMemberS{Value: dynamo.DueShardAll},
		"due_at": &types.AttributeValueMemberN{Value: "1"}, "component_appid": &types.AttributeValueMemberN{Value: "7"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := store.DueItems(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wantDue) {
		t.Fatalf("%d due entries, want %d", len(got), len(wantDue))
	}
	for i, e := range got {
		if e.AppID != wantDue[i] || e.Kind != credential.AccessToken || e.DueAt.After(now) || e.Value != "" {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
}

// MarkDue indexes an item written before the due index, unless its value
// changed meanwhile; Unindex takes a quiet item out, never one a refresher
// touched since.
func TestMarkDueAndUnindex(t *testing.T) {
	store, client, table := newStore(t)
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Hour)
	pk := credential.Key("wxold", credential.AccessToken)
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: pk}, "value": &types.AttributeValueMemberS{Value: "OLD"},
		"expires_at": &types.AttributeValueMemberN{Value: unix(exp)}, "version": &types.AttributeValueMemberN{Value: "1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := store.MarkDue(ctx, "wxold", credential.AccessToken, exp.Add(time.Second), exp, ""); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("mark due of another value: %v, want ErrSuperseded", err)
	}
	due := exp.Add(-credential.AccessTokenLead)
	if err := store.MarkDue(ctx, "wxold", credential.AccessToken, exp, due, ""); err != nil {
		t.Fatal(err)
	}
	if d, s, _ := rawDue(t, client, table, pk); d != unix(due) || s != dynamo.DueShardAll {
		t.Fatalf("marked: %q %q", d, s)
	}
	// A recent lease keeps it indexed.
	if _, err := store.TakeLease(ctx, "wxold", credential.AccessToken, "o1", now, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := store.Unindex(ctx, "wxold", credential.AccessToken, due, now.Add(-time.Hour)); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("unindex of a leased item: %v", err)
	}
	if err := store.ReleaseLease(ctx, "wxold", credential.AccessToken, "o1"); err != nil {
		t.Fatal(err)
	}
	if err := store.Unindex(ctx, "wxold", credential.AccessToken, due.Add(time.Second), now.Add(time.Hour)); !errors.Is(err, credential.ErrSuperseded) {
		t.Fatalf("unindex at another due_at: %v", err)
	}
	if err := store.Unindex(ctx, "wxold", credential.AccessToken, due, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d, s, _ := rawDue(t, client, table, pk); d != "" || s != "" {
		t.Fatalf("unindexed: %q %q", d, s)
	}
	if got, err := store.DueItems(ctx, now.Add(24*time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("index after unindex: %v %v", got, err)
	}
}

func TestSweepDigest(t *testing.T) {
	store, _, _ := newStore(t)
	ctx := context.Background()
	if d, _, err := store.SweepDigest(ctx); err != nil || d != "" {
		t.Fatalf("no meta item: %q %v", d, err)
	}
	if err := store.PutSweepDigest(ctx, "abc", time.Unix(1_800_000_000, 0)); err != nil {
		t.Fatal(err)
	}
	if d, at, err := store.SweepDigest(ctx); err != nil || d != "abc" || at.Unix() != 1_800_000_000 {
		t.Fatalf("digest %q at %v: %v", d, at, err)
	}
	if recs, err := store.List(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("the meta item listed as a credential: %v %v", recs, err)
	}
}
