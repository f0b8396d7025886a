package dynamo_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// replayingAPI sends every UpdateItem twice while replay is on and answers
// with the second attempt: what the SDK's retry does when DynamoDB applied
// the first attempt but its answer was lost (a timeout, a 500 after commit).
type replayingAPI struct {
	dynamo.API
	replay atomic.Bool
}

func (a *replayingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if a.replay.Load() {
		if _, err := a.API.UpdateItem(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return a.API.UpdateItem(ctx, in, opts...)
}

// A conditional write retried after DynamoDB applied it fails its own
// condition; the store recognises its own write and reports success
// instead of a lost lease, a held lease or a spent budget.
func TestConditionalWritesSurviveRetryOfAnAppliedRequest(t *testing.T) {
	ctx := context.Background()
	client, table := dynamotest.NewTable(t)
	api := &replayingAPI{API: client}
	store := dynamo.NewCredentialStore(api, table)
	seed(t, store, "A", 1, t0.Add(time.Minute))
	api.replay.Store(true)

	held, err := store.TakeLease(ctx, app, credential.AccessToken, "me", t0, 30*time.Second)
	if err != nil || held.LeaseOwner != "me" || !held.LeaseUntil.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("take lease: %+v, %v", held, err)
	}
	spent, err := store.SpendForce(ctx, app, credential.AccessToken, "me", t0.Add(time.Second), 30*time.Second, 10)
	if err != nil || spent.ForceCount != 1 {
		t.Fatalf("spend force: %+v, %v", spent, err)
	}
	rec, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{
		Owner: "me", PrevValue: "A", Value: "B", ExpiresAt: t0.Add(2 * time.Hour), RefreshedAt: t0.Add(2 * time.Second)})
	if err != nil || rec.Value != "B" || rec.Version != 2 || rec.LeaseOwner != "" {
		t.Fatalf("commit: %+v, %v", rec, err)
	}
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me2", t0.Add(time.Minute), 30*time.Second); err != nil {
		t.Fatalf("second lease: %v", err)
	}
	if err := store.RecordFailure(ctx, app, credential.AccessToken, "me2",
		credential.Failure{Code: -1, Message: "transient: errcode -1", At: t0.Add(time.Minute)}); err != nil {
		t.Fatalf("record failure: %v", err)
	}
	got, _ := store.Get(ctx, app, credential.AccessToken, true)
	if got.Value != "B" || got.Version != 2 || got.ForceCount != 1 || got.LeaseOwner != "" || got.LastErrorCode != -1 {
		t.Fatalf("item %+v", got)
	}

	// Another writer's state is still refused.
	api.replay.Store(false)
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "other", t0.Add(2*time.Minute), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := store.TakeLease(ctx, app, credential.AccessToken, "me3", t0.Add(2*time.Minute), 30*time.Second); !errors.Is(err, credential.ErrLeaseHeld) {
		t.Fatalf("lease held by another: %v", err)
	}
	if _, err := store.Commit(ctx, app, credential.AccessToken, credential.Commit{
		Owner: "me3", PrevValue: "B", Value: "C", ExpiresAt: t0.Add(3 * time.Hour), RefreshedAt: t0.Add(2 * time.Minute)}); !errors.Is(err, credential.ErrLeaseLost) {
		t.Fatalf("commit without the lease: %v", err)
	}
}
