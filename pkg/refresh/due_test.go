package refresh_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
	"github.com/wxcentral/wxcentral/pkg/refresh"
)

// readCounter counts the item reads (GetItem) a refresher makes.
type readCounter struct {
	refresh.Store
	gets atomic.Int64
}

func (c *readCounter) Get(ctx context.Context, appid string, kind credential.Kind, consistent bool) (credential.Record, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, appid, kind, consistent)
}

func (e *env) counted() (*readCounter, func(*refresh.Options)) {
	c := &readCounter{Store: e.store}
	return c, func(o *refresh.Options) { o.Store = c }
}

// manyApps returns n Official Accounts with an access_token each,
// registered with the simulator.
func (e *env) manyApps(n int) {
	for i := 0; i < n; i++ {
		a := refresh.App{AppID: fmt.Sprintf("wxdue%013d", i), Secret: fmt.Sprintf("due-secret-%021d", i), Kinds: []credential.Kind{credential.AccessToken}}
		e.sim.AddApp(a.AppID, a.Secret)
		e.apps = append(e.apps, a)
	}
}

// stripDue removes due_at and due_shard from an item, as if it had been
// written before the due index.
func (e *env) stripDue(appid string, kind credential.Kind) {
	e.t.Helper()
	_, err := e.db.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String(e.table),
		Key:              map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: credential.Key(appid, kind)}},
		UpdateExpression: aws.String("REMOVE due_at, due_shard")})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) dueEntries() map[string]time.Time {
	e.t.Helper()
	recs, err := e.store.DueItems(context.Background(), e.clock.Now().Add(48*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, r := range recs {
		out[r.AppID+"/"+string(r.Kind)] = r.DueAt
	}
	return out
}

// A sweep reads the due credentials only: among many fresh ones, one made
// due is refreshed by the next sweep, and one that falls due as the clock
// moves is found, each without reading the fresh ones.
func TestSweepReadsDueOnly(t *testing.T) {
	e := newEnv(t, nil)
	e.manyApps(40)
	c, use := e.counted()
	r := e.refresher(use)
	// First sweep: no digest, a full pass fetches everything.
	for k, res := range e.sweep(r) {
		if res.Outcome != refresh.OutcomeRefreshed {
			t.Fatalf("first sweep %s: %+v", k, res)
		}
	}
	if n := len(e.dueEntries()); n != 40 {
		t.Fatalf("%d index entries after the first sweep, want 40", n)
	}
	// All fresh: no item read, every configured credential answered fresh.
	c.gets.Store(0)
	e.clock.Advance(time.Minute)
	sum, err := r.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.gets.Load() != 0 || len(sum.Results) != 40 || sum.NotRead != 40 {
		t.Fatalf("all fresh: %d reads, %d results, not_read %d", c.gets.Load(), len(sum.Results), sum.NotRead)
	}
	for _, res := range sum.Results {
		if res.Outcome != refresh.OutcomeFresh || res.Version != 1 {
			t.Fatalf("unread result %+v, want fresh with the version last seen", res)
		}
	}
	// One made due (its stored expiry moved into its lead): refreshed.
	victim := e.apps[17].AppID
	rec := e.get(victim, credential.AccessToken)
	rec.ExpiresAt = e.clock.Now().Add(credential.AccessTokenLead - time.Second)
	rec.DueAt = time.Time{}
	if err := e.store.Put(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	c.gets.Store(0)
	res := e.sweep(r)
	if got := res[victim+"/access_token"]; got.Outcome != refresh.OutcomeUnchanged && got.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("the due credential: %+v", got)
	}
	if n := c.gets.Load(); n != 1 {
		t.Fatalf("%d reads, want 1 (the due credential)", n)
	}
	if d := e.get(victim, credential.AccessToken).DueAt; !d.After(e.clock.Now()) {
		t.Fatalf("due_at %v not moved past now by the commit", d)
	}
	// The clock moves to the others' due time: each is found and refreshed.
	e.clock.Advance(7200*time.Second - credential.AccessTokenLead)
	c.gets.Store(0)
	refreshed := 0
	for _, res := range e.sweep(r) {
		if res.Outcome == refresh.OutcomeRefreshed {
			refreshed++
		}
	}
	// The victim's WeChat token expires with the others' (unchanged).
	if refreshed < 39 || c.gets.Load() < 39 {
		t.Fatalf("%d refreshed at their due time (%d reads), want every one", refreshed, c.gets.Load())
	}
}

// Items written before the due index (no due_at) are found by the full
// pass a sweep makes when no digest is stored, indexed with a cheap update
// when fresh, and swept through the index from then on.
func TestSweepUpgradeIndexesOldItems(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA, credential.JSAPITicket), appWith(appB, secretB)).register()
	r := e.refresher()
	e.sweep(r)
	for _, k := range []string{appA + "/access_token", appA + "/jsapi_ticket", appB + "/access_token"} {
		p := splitKey(k)
		e.stripDue(p.appid, p.kind)
	}
	if _, err := e.db.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(e.table),
		Key: map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: dynamo.SweepMetaKey}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.dueEntries()); n != 0 {
		t.Fatalf("%d entries after stripping", n)
	}
	e.clock.Advance(time.Minute)
	res := e.sweep(r)
	if res[appA+"/access_token"].Outcome != refresh.OutcomeFresh || res[appA+"/access_token"].Version != 1 {
		t.Fatalf("upgrade sweep: %+v", res)
	}
	entries := e.dueEntries()
	at := e.get(appA, credential.AccessToken)
	if len(entries) != 3 || !entries[appA+"/access_token"].Equal(at.ExpiresAt.Add(-credential.AccessTokenLead)) {
		t.Fatalf("entries after the upgrade sweep: %v", entries)
	}
	tk := e.get(appA, credential.JSAPITicket)
	if !entries[appA+"/jsapi_ticket"].Equal(tk.ExpiresAt.Add(-credential.TicketLead)) {
		t.Fatalf("ticket entry %v, want %v", entries[appA+"/jsapi_ticket"], tk.ExpiresAt.Add(-credential.TicketLead))
	}
}

type appKind struct {
	appid string
	kind  credential.Kind
}

func splitKey(k string) appKind {
	for i := len(k) - 1; i >= 0; i-- {
		if k[i] == '/' {
			return appKind{k[:i], credential.Kind(k[i+1:])}
		}
	}
	return appKind{}
}

// An app added to the document changes the digest: the next sweep reads
// every configured credential and fetches the new one at once.
func TestSweepFindsNewApp(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	e.clock.Advance(time.Minute)
	e.apps = append(e.apps, appWith(appB, secretB))
	e.sim.AddApp(appB, secretB)
	res := e.sweep(r)
	if res[appB+"/access_token"].Outcome != refresh.OutcomeRefreshed || res[appA+"/access_token"].Outcome != refresh.OutcomeFresh {
		t.Fatalf("after adding an app: %+v", res)
	}
	// A new ticket kind of a known app as well.
	e.apps[0] = appWith(appA, secretA, credential.JSAPITicket)
	if res := e.sweep(r); res[appA+"/jsapi_ticket"].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("after adding a ticket: %+v", res)
	}
}

// An app removed from the document stops costing: its entries are skipped
// for an hour (a sweeper with an older document may still keep them), then
// taken out of the index. Re-added, it is refreshed again.
func TestSweepRemovedApp(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA), appWith(appB, secretB)).register()
	c, use := e.counted()
	r := e.refresher(use)
	e.sweep(r)
	e.apps = e.apps[:1]
	e.clock.Advance(2 * time.Hour) // both due now
	c.gets.Store(0)
	res := e.sweep(r) // digest changed: full pass over A
	if _, ok := res[appB+"/access_token"]; ok || res[appA+"/access_token"].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("after removing B: %+v", res)
	}
	if _, ok := e.dueEntries()[appB+"/access_token"]; !ok {
		t.Fatal("B left the index before unindexAfter")
	}
	e.clock.Advance(time.Minute)
	c.gets.Store(0)
	if res := e.sweep(r); len(res) != 1 || c.gets.Load() != 0 {
		t.Fatalf("index pass with B due but removed: %d results, %d reads", len(res), c.gets.Load())
	}
	e.clock.Advance(time.Hour)
	e.sweep(r)
	if _, ok := e.dueEntries()[appB+"/access_token"]; ok {
		t.Fatal("B still indexed an hour after it was due")
	}
	// Back in the document: the digest changes, B is read and refreshed.
	e.apps = append(e.apps, appWith(appB, secretB))
	if res := e.sweep(r); res[appB+"/access_token"].Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("B re-added: %+v", res[appB+"/access_token"])
	}
	if _, ok := e.dueEntries()[appB+"/access_token"]; !ok {
		t.Fatal("B not indexed again")
	}
}

// Sweepers holding different documents (a reload rolling out) race on the
// digest: whichever digest is stored names a configuration whose items are
// all indexed, and the new app is kept by the sweepers that know it.
func TestSweepDigestRace(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	e.sim.AddApp(appB, secretB)
	oldApps := []refresh.App{appWith(appA, secretA)}
	newApps := []refresh.App{appWith(appA, secretA), appWith(appB, secretB)}
	mk := func(apps []refresh.App) *refresh.Refresher {
		return e.refresher(func(o *refresh.Options) {
			o.Apps = func(context.Context) ([]refresh.App, error) { return apps, nil }
		})
	}
	var rs []*refresh.Refresher
	for i := 0; i < 3; i++ {
		rs = append(rs, mk(oldApps), mk(newApps))
	}
	for round := 0; round < 4; round++ {
		sweepConcurrently(t, rs)
		e.clock.Advance(time.Minute)
	}
	entries := e.dueEntries()
	if len(entries) != 2 {
		t.Fatalf("entries %v, want A and B", entries)
	}
	// Past both tokens' due time, with the old document still around: the
	// new-document sweepers keep B.
	e.clock.Advance(2 * time.Hour)
	sweepConcurrently(t, rs)
	b := e.get(appB, credential.AccessToken)
	if !b.Usable(e.clock.Now()) || !b.DueAt.After(e.clock.Now()) {
		t.Fatalf("B after its due time: %+v", b)
	}
	if c := e.sim.Counters(appB); c.StableTokenForce != 0 {
		t.Fatalf("B counters %+v", c)
	}
}

// An index entry of an account that is not in the document but names its
// platform (component_appid) is an authorizer's: swept as credential.Authorizer.
// Until the refresher has an authorizer fetcher, that is a configuration
// failure, recorded and left due.
func TestSweepAuthorizerEntry(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	const authz = "wxauth0rizer000001"
	if err := e.store.Put(context.Background(), credential.Record{Credential: credential.Credential{AppID: authz, Kind: credential.AccessToken,
		Value: "AUTHZ-TOKEN", ExpiresAt: e.clock.Now().Add(time.Minute), RefreshedAt: e.clock.Now(), Version: 1},
		ComponentAppID: "wxc0mp0nent0000001"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	res := e.sweep(r)[authz+"/access_token"]
	if res.Outcome == refresh.OutcomeFresh || res.AppID != authz {
		t.Fatalf("authorizer entry: %+v", res)
	}
	if _, ok := e.dueEntries()[authz+"/access_token"]; !ok {
		t.Fatal("the authorizer's item left the index")
	}
}

// A forced refresh's commit moves due_at like a sweep's: the index keeps
// up with a token rotated between sweeps.
func TestForceCommitMovesDueAt(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	r := e.refresher()
	e.sweep(r)
	old := e.get(appA, credential.AccessToken)
	e.clock.Advance(10 * time.Minute)
	ans := r.Force(context.Background(), forceReq(old.Value))
	if ans.Error != "" {
		t.Fatalf("force: %+v", ans)
	}
	got := e.get(appA, credential.AccessToken)
	if got.Value == old.Value || !got.DueAt.Equal(got.ExpiresAt.Add(-credential.AccessTokenLead)) || !got.DueAt.After(old.DueAt) {
		t.Fatalf("after the force: due_at %v, expires_at %v (before: due_at %v)", got.DueAt, got.ExpiresAt, old.DueAt)
	}
}

// A full pass that cannot tell every item is indexed (here: the write that
// indexes an old item is refused) writes no digest, so the next sweep
// reads everything again; once it can, the digest is written.
func TestFullPassWithoutIndexingWritesNoDigest(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	api, use := e.deniedStore("AccessDeniedException")
	r := e.refresher(use)
	e.sweep(r)
	e.stripDue(appA, credential.AccessToken)
	if _, err := e.db.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(e.table),
		Key: map[string]types.AttributeValue{dynamo.AttrPK: &types.AttributeValueMemberS{Value: dynamo.SweepMetaKey}}}); err != nil {
		t.Fatal(err)
	}
	api.update = func(in *dynamodb.UpdateItemInput) bool {
		return in.ConditionExpression != nil && *in.ConditionExpression == "#exp = :exp"
	}
	api.updateSet.Store(true)
	if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeFresh {
		t.Fatalf("result %+v", res)
	}
	if d, _, err := e.store.SweepDigest(context.Background()); err != nil || d != "" {
		t.Fatalf("digest %q written after a refused index write (%v)", d, err)
	}
	if !storeMetric(e.emf.String()) {
		t.Fatal("no store failure metric for the refused index write")
	}
	api.updateSet.Store(false)
	e.sweep(r)
	if d, _, _ := e.store.SweepDigest(context.Background()); d == "" {
		t.Fatal("no digest after a full pass that indexed every item")
	}
	if _, ok := e.dueEntries()[appA+"/access_token"]; !ok {
		t.Fatal("not indexed")
	}
}

// A table without the due index (one made by hand) still gets every
// credential refreshed: the failed query is a store incident, and the sweep
// reads every credential as before the index.
func TestSweepWithoutDueIndex(t *testing.T) {
	e := newEnv(t, nil, appWith(appA, secretA)).register()
	client := dynamotest.Shared(t).Client()
	table := fmt.Sprintf("wxcentral-noindex-%d", time.Now().UnixNano())
	ctx := context.Background()
	if _, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String(table),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(dynamo.AttrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(dynamo.AttrPK), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest}); err != nil {
		t.Fatal(err)
	}
	if err := dynamodb.NewTableExistsWaiter(client).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		t.Fatal(err)
	}
	e.store, e.db, e.table = dynamo.NewCredentialStore(client, table), client, table
	r := e.refresher()
	for i := 0; i < 2; i++ {
		if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeRefreshed && res.Outcome != refresh.OutcomeFresh || res.Version != 1 {
			t.Fatalf("sweep %d: %+v", i, res)
		}
		e.clock.Advance(time.Minute)
	}
	if !storeMetric(e.emf.String()) {
		t.Fatal("a failed index query raised no store failure metric")
	}
	e.clock.Advance(2 * time.Hour)
	if res := e.sweep(r)[appA+"/access_token"]; res.Outcome != refresh.OutcomeRefreshed {
		t.Fatalf("at due: %+v", res)
	}
}
