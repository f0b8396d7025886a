package main_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wxcentral/wxcentral/internal/dynamotest"
	"github.com/wxcentral/wxcentral/internal/fakeaws"
	"github.com/wxcentral/wxcentral/internal/lambdatest"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

const (
	appid    = "wx0123456789abcdef"
	secret   = "app-secret-0123456789abcdef012345"
	secretID = "wxcentral/apps"
)

type world struct {
	ddb   *dynamodb.Client
	table string
	sim   *wechattest.Server
	aws   *fakeaws.Server
	env   map[string]string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{sim: wechattest.NewServer(), aws: fakeaws.New(t)}
	t.Cleanup(w.sim.Close)
	w.sim.AddApp(appid, secret)
	w.ddb, w.table = dynamotest.NewTable(t)
	w.aws.PutSecret(secretID, `{"apps":[{"appid":"`+appid+`","secret":"`+secret+`","tickets":["jsapi"]}]}`)
	w.env = maps.Clone(w.aws.Env())
	w.env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamotest.Shared(t).Endpoint
	w.env["TABLE_NAME"] = w.table
	w.env["APPS_SECRET_ID"] = secretID
	w.env["WECHAT_API_BASE"] = w.sim.URL
	w.env["LOG_LEVEL"] = "debug"
	return w
}

func (w *world) item(t *testing.T, kind string) map[string]types.AttributeValue {
	t.Helper()
	out, err := w.ddb.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(w.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "cred#" + appid + "#" + kind}}})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("item %s: %v (found %d attributes)", kind, err, len(out.Item))
	}
	return out.Item
}

func invoke(t *testing.T, f *lambdatest.Function, payload string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := f.Invoke(ctx, []byte(payload))
	if err != nil {
		t.Fatalf("invoke %s: %v", payload, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
}

// checkItem compares an item with docs/dynamodb.md attribute by attribute:
// want maps each attribute that must be present to its type ("S"/"N") and
// a check of its value; every other attribute must be absent.
func checkItem(t *testing.T, item map[string]types.AttributeValue, want map[string]func(s string, isNum bool) error) {
	t.Helper()
	for name, check := range want {
		v, ok := item[name]
		if !ok {
			t.Errorf("attribute %s: missing", name)
			continue
		}
		var err error
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			err = check(v.Value, false)
		case *types.AttributeValueMemberN:
			err = check(v.Value, true)
		default:
			err = fmt.Errorf("type %T", v)
		}
		if err != nil {
			t.Errorf("attribute %s: %v", name, err)
		}
	}
	for name := range item {
		if _, ok := want[name]; !ok {
			t.Errorf("attribute %s: present, want absent", name)
		}
	}
}

func str(want func(string) error) func(string, bool) error {
	return func(s string, isNum bool) error {
		if isNum {
			return errors.New("is N, want S")
		}
		return want(s)
	}
}

func num(lo, hi int64) func(string, bool) error {
	return func(s string, isNum bool) error {
		if !isNum {
			return errors.New("is S, want N")
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s not an integer in [%d, %d]", s, lo, hi)
		}
		return nil
	}
}

func equals(want string) func(string) error {
	return func(s string) error {
		if s != want {
			return fmt.Errorf("%q, want %q", s, want)
		}
		return nil
	}
}

type result struct {
	AppID     string `json:"appid"`
	Kind      string `json:"kind"`
	Outcome   string `json:"outcome"`
	Version   int64  `json:"version"`
	ExpiresAt int64  `json:"expires_at"`
	Error     string `json:"error"`
}

func TestRefreshBinary(t *testing.T) {
	w := newWorld(t)
	f := lambdatest.Start(t, lambdatest.Build(t, "refresh"), w.env)

	// EventBridge Scheduler (input {}): first sweep fetches everything.
	before := time.Now().Unix()
	var sum struct {
		Results []result `json:"results"`
	}
	invoke(t, f, `{}`, &sum)
	after := time.Now().Unix()
	if len(sum.Results) != 2 {
		t.Fatalf("results %+v", sum.Results)
	}
	for _, r := range sum.Results {
		if r.AppID != appid || r.Outcome != "refreshed" || r.Version != 1 || r.Error != "" || r.ExpiresAt < before+7200 || r.ExpiresAt > after+7200 {
			t.Fatalf("result %+v", r)
		}
	}
	token, _ := w.sim.CurrentToken(appid)
	checkItem(t, w.item(t, "access_token"), map[string]func(string, bool) error{
		"pk":              str(equals("cred#" + appid + "#access_token")),
		"value":           str(equals(token)),
		"expires_at":      num(before+7200, after+7200),
		"refreshed_at":    num(before, after),
		"refreshed_at_ms": num(before*1000, after*1000+999),
		"version":         num(1, 1),
		// The due index: when a sweep must next look at it.
		"due_at":    num(before+7200-290, after+7200-290),
		"due_shard": str(equals("0")),
	})
	ticketItem := w.item(t, "jsapi_ticket")
	ticket := ticketItem["value"].(*types.AttributeValueMemberS).Value
	if !w.sim.TicketValid(appid, ticket, time.Now()) {
		t.Fatal("stored ticket not valid")
	}

	// An EventBridge rule "Scheduled Event", {"action":"sweep"} and a
	// payload that is not JSON at all: fresh.
	for _, ev := range []string{
		`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-11-21T00:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/wxcentral-refresh"],"detail":{}}`,
		`{"action":"sweep"}`,
		`not JSON: still not a direct-invoke action`,
	} {
		invoke(t, f, ev, &sum)
		for _, r := range sum.Results {
			if r.Outcome != "fresh" || r.Version != 1 {
				t.Fatalf("%s: result %+v", ev[:20], r)
			}
		}
	}
	if c := w.sim.Counters(appid); c.StableTokenNormal != 1 || c.GetTicket != 1 {
		t.Fatalf("WeChat calls %+v, want one stable_token and one getticket", c)
	}

	// Forced refresh of the current token: a normal-mode probe returns the
	// same token, then one force call issues a new one.
	before = time.Now().Unix()
	var cred tokenapi.Answer
	invoke(t, f, `{"action":"force","appid":"`+appid+`","kind":"access_token","stale_token":"`+token+`"}`, &cred)
	after = time.Now().Unix()
	newToken, _ := w.sim.CurrentToken(appid)
	if cred.Error != "" || cred.AppID != appid || cred.Kind != "access_token" || cred.Token != newToken || cred.Token == token ||
		cred.Version != 2 || cred.ExpiresIn < 7190 || cred.ExpiresIn > 7200 {
		t.Fatalf("force answer %+v", cred)
	}
	// The sweep's answer predates the report, so one normal-mode probe runs
	// before the force call, even within the same second.
	if c := w.sim.Counters(appid); c.StableTokenNormal != 2 || c.StableTokenForce != 1 {
		t.Fatalf("WeChat calls %+v", c)
	}
	shanghaiDay := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	checkItem(t, w.item(t, "access_token"), map[string]func(string, bool) error{
		"pk":               str(equals("cred#" + appid + "#access_token")),
		"value":            str(equals(newToken)),
		"expires_at":       num(before+7200, after+7200),
		"refreshed_at":     num(before, after),
		"refreshed_at_ms":  num(before*1000, after*1000+999),
		"version":          num(2, 2),
		"due_at":           num(before+7200-290, after+7200-290),
		"due_shard":        str(equals("0")),
		"force_day":        str(equals(shanghaiDay)),
		"force_count":      num(1, 1),
		"last_force_at":    num(before, after),
		"last_force_at_ms": num(before*1000, after*1000+999),
	})

	// A second report 30 s too early, and an unknown app: error payloads.
	var answer tokenapi.Answer
	invoke(t, f, `{"action":"force","appid":"`+appid+`","kind":"access_token","stale_token":"`+newToken+`"}`, &answer)
	if answer.Error != "force_too_soon" || answer.Message == "" {
		t.Fatalf("answer %+v", answer)
	}
	invoke(t, f, `{"action":"force","appid":"wxunknown","kind":"access_token","stale_token":"x"}`, &answer)
	if answer.Error != "unknown_app" {
		t.Fatalf("answer %+v", answer)
	}

	logs := f.Logs()
	for name, v := range map[string]string{"AppSecret": secret, "first token": token, "second token": newToken, "ticket": ticket} {
		if strings.Contains(logs, v) {
			t.Errorf("logs contain the %s", name)
		}
	}
	var sawRefreshed bool
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == "refresh" && rec["outcome"] == "refreshed" && rec["appid"] == appid && rec["kind"] != nil && rec["version"] != nil {
			sawRefreshed = true
		}
	}
	if !sawRefreshed {
		t.Errorf("no JSON log line with appid, kind, version, outcome=refreshed:\n%s", logs)
	}
}

// A WeChat failure is recorded in last_error_* and cleared by the next
// success.
func TestRefreshBinaryRecordsFailure(t *testing.T) {
	w := newWorld(t)
	f := lambdatest.Start(t, lambdatest.Build(t, "refresh"), w.env)
	w.sim.InjectFaults(wechattest.EndpointStableToken, wechattest.ErrcodeFault(40164))
	before := time.Now().Unix()
	var sum struct {
		Results []result `json:"results"`
	}
	invoke(t, f, `{}`, &sum)
	if len(sum.Results) != 2 || sum.Results[0].Kind != "access_token" || sum.Results[0].Outcome != "failed" ||
		sum.Results[0].Error != "configuration: errcode 40164" || sum.Results[1].Outcome != "failed" {
		t.Fatalf("results %+v", sum.Results)
	}
	checkItem(t, w.item(t, "access_token"), map[string]func(string, bool) error{
		"pk":              str(equals("cred#" + appid + "#access_token")),
		"last_error_code": num(40164, 40164),
		"last_error": str(func(s string) error {
			if !strings.HasPrefix(s, "configuration: errcode 40164: ") {
				return fmt.Errorf("%q", s)
			}
			return nil
		}),
		"last_error_at":    num(before, time.Now().Unix()),
		"last_error_at_ms": num(before*1000, time.Now().UnixMilli()),
		// Its lease made it due at once, and the failure left it due.
		"due_at":    num(before, time.Now().Unix()),
		"due_shard": str(equals("0")),
	})
	if !strings.Contains(f.Logs(), `"level":"ERROR","msg":"refresh","appid":"`+appid+`","kind":"access_token"`) {
		t.Errorf("no error-level log line for the configuration failure")
	}
	invoke(t, f, `{"action":"sweep"}`, &sum)
	if sum.Results[0].Outcome != "refreshed" || sum.Results[1].Outcome != "refreshed" {
		t.Fatalf("results %+v", sum.Results)
	}
	item := w.item(t, "access_token")
	for _, a := range []string{"last_error_code", "last_error", "last_error_at", "last_error_at_ms", "lease_owner", "lease_until"} {
		if _, ok := item[a]; ok {
			t.Errorf("%s still present after a success", a)
		}
	}
}

// Bad configuration: each invocation fails with an error naming the field.
func TestRefreshBinaryBadConfiguration(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*world)
		want   string
	}{
		{"missing TABLE_NAME", func(w *world) { delete(w.env, "TABLE_NAME") }, "TABLE_NAME: missing"},
		{"bad FORCE_REFRESH_DAILY_LIMIT", func(w *world) { w.env["FORCE_REFRESH_DAILY_LIMIT"] = "lots" }, "FORCE_REFRESH_DAILY_LIMIT: must be an integer"},
		{"malformed secret JSON", func(w *world) { w.aws.PutSecret(secretID, `{"apps":[{"appid":"wxa","secret":"`+secret+`"`) }, "apps document: malformed JSON"},
		{"duplicate appid", func(w *world) {
			w.aws.PutSecret(secretID, `{"apps":[{"appid":"wxa","secret":"`+secret+`"},{"appid":"wxa","secret":"`+secret+`"}]}`)
		}, "apps document: apps[1].appid: duplicate of apps[0].appid"},
		{"missing secret field", func(w *world) { w.aws.PutSecret(secretID, `{"apps":[{"appid":"wxa"}]}`) }, "apps document: apps[0].secret: missing"},
		{"absent secret", func(w *world) { w.env["APPS_SECRET_ID"] = "wxcentral/none" }, "ResourceNotFoundException"},
		{"bad WECOM_API_BASE", func(w *world) { w.env["WECOM_API_BASE"] = "qyapi.weixin.qq.com" }, "WECOM_API_BASE: must be an http or https URL"},
		{"mini-program with tickets", func(w *world) {
			w.aws.PutSecret(secretID, `{"apps":[{"appid":"wxa","secret":"`+secret+`"},{"type":"miniprogram","appid":"wxb","secret":"`+secret+`","tickets":["jsapi"]}]}`)
		}, "apps document: apps[1].tickets: a miniprogram has no tickets"},
		{"WeCom app without corpid", func(w *world) {
			w.aws.PutSecret(secretID, `{"apps":[{"appid":"wxa","secret":"`+secret+`"},{"type":"wecom","agent":"1000002","secret":"`+secret+`"}]}`)
		}, "apps document: apps[1].corpid: missing"},
		{"component with tickets", func(w *world) {
			w.aws.PutSecret(secretID, `{"apps":[{"type":"component","appid":"wxa","secret":"`+secret+`","tickets":["jsapi"]}]}`)
		}, "apps document: apps[0].tickets: a component has no tickets"},
	}
	bin := lambdatest.Build(t, "refresh")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.modify(w)
			f := lambdatest.Start(t, bin, w.env)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := f.Invoke(ctx, []byte(`{}`))
			var fe *lambdatest.FunctionError
			if !errors.As(err, &fe) || !strings.Contains(fe.Message, tc.want) {
				t.Fatalf("err = %v, want a function error containing %q", err, tc.want)
			}
			if strings.Contains(fe.Message, secret) || strings.Contains(f.Logs(), secret) {
				t.Fatal("the AppSecret leaked into the error or the logs")
			}
		})
	}
}
