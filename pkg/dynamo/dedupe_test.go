package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
	"github.com/wxcentral/wxcentral/pkg/callback/dedupetest"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

func TestDedupeStoreContract(t *testing.T) {
	dedupetest.TestStore(t, func(t *testing.T) callback.DedupeStore {
		client, table := dynamotest.NewTable(t)
		return dynamo.NewDedupeStore(client, table)
	})
}

// The item follows docs/dynamodb.md: status, owner, digest, reply, ttl.
func TestDedupeStoreItemAttributes(t *testing.T) {
	client, table := dynamotest.NewTable(t)
	s := dynamo.NewDedupeStore(client, table)
	ctx := context.Background()
	now := time.Unix(1714112445, 0)
	if c, err := s.Claim(ctx, cbApp, "k2", callback.ClaimRequest{Owner: "me", Digest: "d2", Now: now, Until: now.Add(6 * time.Second)}); err != nil || c.State != callback.ClaimAcquired {
		t.Fatalf("claim: %v %v", c.State, err)
	}
	if err := s.Complete(ctx, cbApp, "k2", "me", nil, now); err != nil {
		t.Fatal(err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "msg#" + cbApp + "#k2"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"status": "COMPLETED", "owner": "me", "digest": "d2", "reply": ""} {
		if v, ok := out.Item[name].(*types.AttributeValueMemberS); !ok || v.Value != want {
			t.Errorf("%s = %v, want %q", name, out.Item[name], want)
		}
	}
	if ttl, _ := out.Item["ttl"].(*types.AttributeValueMemberN); ttl == nil || ttl.Value != fmt.Sprint(now.Add(10*time.Minute).Unix()) {
		t.Fatalf("ttl %v", out.Item["ttl"])
	}
	if _, ok := out.Item["in_progress_until"]; ok {
		t.Fatal("completed item keeps in_progress_until")
	}
}

const (
	cbApp   = "wx0123456789abcdef"
	cbToken = "t0ken"
	cbKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// cluster is three callback handlers (three "Lambda instances") sharing
// one dynalite table, each with its own DynamoDB client.
type cluster struct {
	handlers []*callback.Handler
	runs     atomic.Int32
	sender   *callbacktest.Sender
}

func newCluster(t *testing.T, h callback.HandlerFunc, wait time.Duration) *cluster {
	t.Helper()
	_, table := dynamotest.NewTable(t)
	server := dynamotest.Shared(t)
	now := time.Unix(1714112445, 0)
	clock := func() time.Time { return now }
	cl := &cluster{sender: &callbacktest.Sender{AppID: cbApp, Token: cbToken, EncodingAESKey: cbKey, Now: clock}}
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: cbApp, Token: cbToken, EncodingAESKey: cbKey, Mode: callback.ModeSafe}}}
	for i := 0; i < 3; i++ {
		mux := callback.NewMux()
		mux.HandleFunc(callback.Match{}, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
			cl.runs.Add(1)
			return h(ctx, m)
		})
		hd, err := callback.NewHandler(callback.Options{
			Config: callback.StaticConfig(cfg), Routes: mux, Clock: clock,
			Store:          dynamo.NewDedupeStore(server.Client(), table),
			InProgressWait: wait, PollInterval: 20 * time.Millisecond,
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		cl.handlers = append(cl.handlers, hd)
	}
	return cl
}

type delivery struct {
	status int
	reply  string
	body   string
}

// deliver sends msg to instance i and opens the reply.
func (cl *cluster) deliver(t *testing.T, i int, msg string) delivery {
	req, nonce := cl.sender.Push(msg)
	w := httptest.NewRecorder()
	cl.handlers[i%3].ServeHTTP(w, req)
	d := delivery{status: w.Code, body: w.Body.String()}
	if w.Code == http.StatusOK {
		plain, err := cl.sender.OpenReply(w.Body.Bytes(), nonce)
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
		d.reply = plain
	}
	return d
}

func TestDedupeThreeInstances(t *testing.T) {
	slowEcho := func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		time.Sleep(150 * time.Millisecond) // long enough for the duplicates to overlap
		return callback.TextReply{Content: "echo: " + m.Content}, nil
	}
	for _, concurrent := range []bool{true, false} {
		t.Run(fmt.Sprintf("concurrent=%v", concurrent), func(t *testing.T) {
			cl := newCluster(t, slowEcho, 10*time.Second) // generous: a slow machine must not turn a wait into `success`
			messages := []string{
				cl.sender.Text("oUser", 1714112445, 1001, "one"),
				cl.sender.Text("oUser", 1714112445, 1002, "two"),
				cl.sender.Event("oUser", 1714112445, callback.EventClick, "MENU"), // no MsgId: cbKey from the event fields
			}
			for n, msg := range messages {
				results := make([]delivery, 3)
				if concurrent {
					var wg sync.WaitGroup
					for i := range 3 {
						wg.Go(func() { results[i] = cl.deliver(t, i, msg) })
					}
					wg.Wait()
				} else {
					for i := range 3 {
						results[i] = cl.deliver(t, i, msg)
					}
				}
				if got := cl.runs.Load(); got != int32(n+1) {
					t.Fatalf("message %d: handler ran %d times in all, want %d", n, got, n+1)
				}
				for i, r := range results {
					if r.status != 200 || r.reply != results[0].reply || r.reply == "" {
						t.Fatalf("message %d delivery %d: %d %q, first got %q", n, i, r.status, r.reply, results[0].reply)
					}
				}
			}
		})
	}
}

func TestDedupeInProgressAnswersSuccess(t *testing.T) {
	release := make(chan struct{})
	cl := newCluster(t, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		<-release
		return callback.TextReply{Content: "done"}, nil
	}, callback.DefaultInProgressWait)
	msg := cl.sender.Text("oUser", 1714112445, 2001, "slow")
	first := make(chan delivery)
	go func() { first <- cl.deliver(t, 0, msg) }()
	// Wait until the first delivery holds the claim, then deliver again
	// while its handler is still blocked.
	for cl.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	dup := cl.deliver(t, 1, msg)
	close(release)
	if dup.status != 200 || dup.body != "success" {
		t.Fatalf("in-progress duplicate: %d %q, want 200 success", dup.status, dup.body)
	}
	if f := <-first; f.status != 200 || f.reply == "" {
		t.Fatalf("first delivery: %+v", f)
	}
	// A later retry gets the stored reply.
	if again := cl.deliver(t, 2, msg); again.reply == "" || cl.runs.Load() != 1 {
		t.Fatalf("retry after completion: %+v, runs %d", again, cl.runs.Load())
	}
}

func TestDedupeFailedHandlerReleasesClaim(t *testing.T) {
	var calls atomic.Int32
	cl := newCluster(t, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		if calls.Add(1) == 1 {
			return nil, errors.New("downstream failed")
		}
		return callback.TextReply{Content: "ok"}, nil
	}, time.Second)
	msg := cl.sender.Text("oUser", 1714112445, 3001, "x")
	if d := cl.deliver(t, 0, msg); d.status != http.StatusServiceUnavailable {
		t.Fatalf("failing handler: %d", d.status)
	}
	if d := cl.deliver(t, 1, msg); d.status != 200 || d.reply == "" {
		t.Fatalf("next delivery: %+v", d)
	}
	if d := cl.deliver(t, 2, msg); d.status != 200 || d.reply == "" || cl.runs.Load() != 2 {
		t.Fatalf("third delivery: %+v runs %d", d, cl.runs.Load())
	}
}

func TestDedupeStoreFailureIs503(t *testing.T) {
	srv := dynamotest.Start(t)
	client, table := srv.NewTable(t)
	cfg := &callback.Config{Apps: []callback.AppConfig{{AppID: cbApp, Token: cbToken, EncodingAESKey: cbKey}}}
	var runs atomic.Int32
	mux := callback.NewMux()
	mux.HandleFunc(callback.Match{}, func(context.Context, *callback.Message) (callback.Reply, error) { runs.Add(1); return nil, nil })
	h, _ := callback.NewHandler(callback.Options{Config: callback.StaticConfig(cfg), Routes: mux,
		Store: dynamo.NewDedupeStore(client, table), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	srv.Stop()
	s := &callbacktest.Sender{AppID: cbApp, Token: cbToken, EncodingAESKey: cbKey}
	req, _ := s.Push(s.Text("oUser", time.Now().Unix(), 1, "x"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || runs.Load() != 0 {
		t.Fatalf("store down: %d, runs %d", w.Code, runs.Load())
	}
}

// A delivery waiting on a claim whose handler then fails takes the claim
// over and runs the handler itself, within its wait budget.
func TestDedupeWaiterTakesOverFailedClaim(t *testing.T) {
	var calls atomic.Int32
	cl := newCluster(t, func(ctx context.Context, m *callback.Message) (callback.Reply, error) {
		if calls.Add(1) == 1 {
			time.Sleep(200 * time.Millisecond)
			return nil, errors.New("first attempt fails")
		}
		return callback.TextReply{Content: "second attempt"}, nil
	}, 10*time.Second)
	msg := cl.sender.Text("oUser", 1714112445, 4001, "x")
	first := make(chan delivery)
	go func() { first <- cl.deliver(t, 0, msg) }()
	for cl.runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	second := cl.deliver(t, 1, msg)
	if f := <-first; f.status != http.StatusServiceUnavailable {
		t.Fatalf("first delivery: %+v", f)
	}
	if second.status != 200 || !strings.Contains(second.reply, "second attempt") || cl.runs.Load() != 2 {
		t.Fatalf("waiting delivery: %+v, runs %d", second, cl.runs.Load())
	}
}

// Items written by someone else may lack the optional-looking attributes:
// Claim and Lookup must agree on them. No ttl means the item never expires
// (DynamoDB TTL ignores it); an IN_PROGRESS item without in_progress_until
// is a stale claim.
func TestDedupeStoreItemsMissingAttributes(t *testing.T) {
	client, table := dynamotest.NewTable(t)
	s := dynamo.NewDedupeStore(client, table)
	ctx := context.Background()
	now := time.Unix(1714112445, 0)
	s_ := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n_ := func(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	tests := []struct {
		name      string
		item      map[string]types.AttributeValue
		lookup    callback.ClaimState
		claim     callback.ClaimState
		wantReply string
	}{
		{"completed without ttl", map[string]types.AttributeValue{"status": s_("COMPLETED"), "reply": s_("<xml>r</xml>")},
			callback.ClaimCompleted, callback.ClaimCompleted, "<xml>r</xml>"},
		{"completed without reply", map[string]types.AttributeValue{"status": s_("COMPLETED"), "ttl": n_(now.Add(time.Minute).Unix())},
			callback.ClaimCompleted, callback.ClaimCompleted, ""},
		{"in progress without ttl", map[string]types.AttributeValue{"status": s_("IN_PROGRESS"), "in_progress_until": n_(now.Add(time.Minute).UnixMilli())},
			callback.ClaimInProgress, callback.ClaimInProgress, ""},
		{"in progress without in_progress_until", map[string]types.AttributeValue{"status": s_("IN_PROGRESS"), "ttl": n_(now.Add(time.Minute).Unix())},
			callback.ClaimAbsent, callback.ClaimAcquired, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprint("missing-", i)
			tt.item["pk"] = s_("msg#" + cbApp + "#" + key)
			if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: tt.item}); err != nil {
				t.Fatal(err)
			}
			c, err := s.Lookup(ctx, cbApp, key, now)
			if err != nil || c.State != tt.lookup || string(c.Reply) != tt.wantReply {
				t.Fatalf("Lookup: state %v reply %q err %v, want %v %q", c.State, c.Reply, err, tt.lookup, tt.wantReply)
			}
			c, err = s.Claim(ctx, cbApp, key, callback.ClaimRequest{Owner: "o", Now: now, Until: now.Add(6 * time.Second)})
			if err != nil || c.State != tt.claim || string(c.Reply) != tt.wantReply {
				t.Fatalf("Claim: state %v reply %q err %v, want %v %q", c.State, c.Reply, err, tt.claim, tt.wantReply)
			}
		})
	}
}
