package refresh_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// deniedAPI is dynalite behind an IAM policy or a capacity limit that can
// be switched per operation: a refused call gets the error the SDK returns
// for it (an API error carrying its code), without reaching the table.
type deniedAPI struct {
	dynamo.API
	code      string                                  // e.g. AccessDeniedException
	getItem   atomic.Bool                             // refuse GetItem
	update    func(in *dynamodb.UpdateItemInput) bool // refuse this UpdateItem
	updateSet atomic.Bool
}

func (d *deniedAPI) refusal() error {
	return &smithy.GenericAPIError{Code: d.code, Message: "User: arn:aws:sts::123456789012:assumed-role/refresh is not authorized"}
}

func (d *deniedAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if d.getItem.Load() {
		return nil, d.refusal()
	}
	return d.API.GetItem(ctx, in, opts...)
}

func (d *deniedAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if d.updateSet.Load() && d.update(in) {
		return nil, d.refusal()
	}
	return d.API.UpdateItem(ctx, in, opts...)
}

func (e *env) deniedStore(code string) (*deniedAPI, func(*refresh.Options)) {
	client, table := dynamotest.NewTable(e.t)
	api := &deniedAPI{API: client, code: code}
	e.store = dynamo.NewCredentialStore(client, table) // the test's own view, unrestricted
	e.db, e.table = client, table
	return api, func(o *refresh.Options) { o.Store = dynamo.NewCredentialStore(api, table) }
}

func storeMetric(emf string) bool {
	return strings.Contains(emf, `"ErrorClass":"store","RefreshFailures":1`)
}

// A refresher that cannot read or write DynamoDB does not just log a
// warning: the item's result is failed with class store naming the error
// code, it is logged at error level and RefreshFailures{ErrorClass=store}
// is emitted, for reads, leases, forced refreshes and the failure records
// and lease releases that follow a WeChat failure.
func TestStoreOutageIsAFailureWithItsMetric(t *testing.T) {
	t.Run("read denied", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA)).register()
		api, use := e.deniedStore("AccessDeniedException")
		api.getItem.Store(true)
		res := e.sweep(e.refresher(use))[appA+"/access_token"]
		if res.Outcome != refresh.OutcomeFailed || res.Error != "store: AccessDeniedException on read" {
			t.Fatalf("result %+v", res)
		}
		if !storeMetric(e.emf.String()) || !strings.Contains(e.emf.String(), `"Outcome":"failed","RefreshOutcome":1`) {
			t.Fatalf("no store failure metric in:\n%s", e.emf.String())
		}
		if l := logLine(e.logs.String(), `"msg":"refresh"`); !strings.Contains(l, `"level":"ERROR"`) || !strings.Contains(l, `"error_class":"store"`) {
			t.Fatalf("refresh log line %s, want level ERROR and error_class store", l)
		}
	})
	t.Run("writes throttled", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA)).register()
		api, use := e.deniedStore("ThrottlingException")
		api.update = func(*dynamodb.UpdateItemInput) bool { return true }
		api.updateSet.Store(true)
		res := e.sweep(e.refresher(use))[appA+"/access_token"]
		if res.Outcome != refresh.OutcomeFailed || res.Error != "store: ThrottlingException on lease" || !storeMetric(e.emf.String()) {
			t.Fatalf("result %+v, metrics:\n%s", res, e.emf.String())
		}
	})
	t.Run("failure record denied after a WeChat failure", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA)).register()
		api, use := e.deniedStore("AccessDeniedException")
		api.update = func(in *dynamodb.UpdateItemInput) bool {
			return strings.Contains(*in.UpdateExpression, "REMOVE #lo, #lu")
		}
		api.updateSet.Store(true)
		e.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(40125))
		res := e.sweep(e.refresher(use))[appA+"/access_token"]
		if res.Outcome != refresh.OutcomeFailed || !strings.HasPrefix(res.Error, "configuration: ") {
			t.Fatalf("result %+v", res)
		}
		if !storeMetric(e.emf.String()) {
			t.Fatalf("the refused failure record raised no store metric:\n%s", e.emf.String())
		}
	})
	t.Run("forced refresh read denied", func(t *testing.T) {
		e := newEnv(t, nil, appWith(appA, secretA)).register()
		api, use := e.deniedStore("AccessDeniedException")
		r := e.refresher(use)
		e.sweep(r)
		e.clock.Advance(time.Minute)
		stale := e.get(appA, credential.AccessToken).Value
		api.getItem.Store(true)
		got := r.Force(context.Background(), forceReq(stale))
		if got.Error != tokenapi.CodeTokenUnavailable || !strings.Contains(got.Message, "store: AccessDeniedException on read") {
			t.Fatalf("answer %+v", got)
		}
		if !storeMetric(e.emf.String()) {
			t.Fatalf("no store failure metric in:\n%s", e.emf.String())
		}
	})
}

// replayingAPI sends every UpdateItem twice and answers with the second
// attempt: the SDK's retry of a request DynamoDB applied but whose answer
// was lost. The retry fails its own condition.
type replayingAPI struct{ dynamo.API }

func (a replayingAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if _, err := a.API.UpdateItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return a.API.UpdateItem(ctx, in, opts...)
}

// With every conditional write retried after it was applied, a sweep still
// refreshes (its lease is not "held" by itself) and a forced refresh still
// makes its one force call (its budget is not "spent" by itself).
func TestRetriedWritesAreOurOwn(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	client, table := dynamotest.NewTable(t)
	e.store = dynamo.NewCredentialStore(client, table)
	r := e.refresher(func(o *refresh.Options) { o.Store = dynamo.NewCredentialStore(replayingAPI{client}, table) })
	if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeRefreshed || res.Version != 1 {
		t.Fatalf("sweep: %+v", res)
	}
	e.clock.Advance(time.Minute)
	stale := e.get(appA, credential.AccessToken).Value
	got := r.Force(context.Background(), forceReq(stale))
	c := e.sim.Counters(appA)
	rec := e.get(appA, credential.AccessToken)
	if got.Error != "" || got.Token == stale || c.StableTokenForce != 1 || rec.ForceCount != 1 || rec.Value != got.Token || rec.LeaseOwner != "" {
		t.Fatalf("answer %+v, force calls %d, item %+v", got, c.StableTokenForce, rec)
	}
}
