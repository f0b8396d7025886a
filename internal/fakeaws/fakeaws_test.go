package fakeaws_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/wxcentral/wxcentral/internal/fakeaws"
)

func apiErrorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestGetSecretValue(t *testing.T) {
	s := fakeaws.New(t)
	s.PutSecret("wxcentral/apps", `{"apps":[]}`)
	sm := secretsmanager.NewFromConfig(s.AWSConfig())
	ctx := context.Background()

	tests := []struct {
		name     string
		in       secretsmanager.GetSecretValueInput
		wantCode string
	}{
		{"by name", secretsmanager.GetSecretValueInput{SecretId: aws.String("wxcentral/apps")}, ""},
		{"by ARN", secretsmanager.GetSecretValueInput{SecretId: aws.String(s.SecretARN("wxcentral/apps"))}, ""},
		{"by partial ARN", secretsmanager.GetSecretValueInput{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:wxcentral/apps")}, ""},
		{"AWSCURRENT stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("wxcentral/apps"), VersionStage: aws.String("AWSCURRENT")}, ""},
		{"unknown stage", secretsmanager.GetSecretValueInput{SecretId: aws.String("wxcentral/apps"), VersionStage: aws.String("AWSPREVIOUS")}, "ResourceNotFoundException"},
		{"unknown version id", secretsmanager.GetSecretValueInput{SecretId: aws.String("wxcentral/apps"), VersionId: aws.String("00000000-0000-4000-8000-000000000000")}, "ResourceNotFoundException"},
		{"unknown secret", secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")}, "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := sm.GetSecretValue(ctx, &tt.in)
			if tt.wantCode != "" {
				if got := apiErrorCode(err); got != tt.wantCode {
					t.Fatalf("error = %v (code %q), want code %q", err, got, tt.wantCode)
				}
				if tt.wantCode == "ResourceNotFoundException" {
					var rnf *smtypes.ResourceNotFoundException
					if !errors.As(err, &rnf) {
						t.Fatalf("error %T is not *types.ResourceNotFoundException", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.SecretString); got != `{"apps":[]}` {
				t.Errorf("SecretString = %q", got)
			}
			if got := aws.ToString(out.Name); got != "wxcentral/apps" {
				t.Errorf("Name = %q", got)
			}
			if got := aws.ToString(out.ARN); got != s.SecretARN("wxcentral/apps") {
				t.Errorf("ARN = %q", got)
			}
			if aws.ToString(out.VersionId) == "" || len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" {
				t.Errorf("VersionId = %q, VersionStages = %v", aws.ToString(out.VersionId), out.VersionStages)
			}
			if out.CreatedDate == nil || out.CreatedDate.Year() < 2020 {
				t.Errorf("CreatedDate = %v", out.CreatedDate)
			}
		})
	}
	// Every call above asked for wxcentral/apps except the unknown one.
	if got, want := s.SecretReads("wxcentral/apps"), len(tests)-1; got != want {
		t.Errorf("SecretReads(wxcentral/apps) = %d, want %d", got, want)
	}
	if got := s.SecretReads("nope"); got != 1 {
		t.Errorf("SecretReads(nope) = %d, want 1", got)
	}
}

func TestPutSecretNewVersion(t *testing.T) {
	s := fakeaws.New(t)
	sm := secretsmanager.NewFromConfig(s.AWSConfig())
	ctx := context.Background()
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("cb")}

	s.PutSecret("cb", "v1")
	first, err := sm.GetSecretValue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	s.PutSecret("cb", "v2")
	second, err := sm.GetSecretValue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(second.SecretString) != "v2" || aws.ToString(first.VersionId) == aws.ToString(second.VersionId) {
		t.Errorf("after PutSecret: value %q, versions %q then %q; want v2 and a new version",
			aws.ToString(second.SecretString), aws.ToString(first.VersionId), aws.ToString(second.VersionId))
	}
	s.DeleteSecret("cb")
	if _, err := sm.GetSecretValue(ctx, in); apiErrorCode(err) != "ResourceNotFoundException" {
		t.Errorf("after DeleteSecret: err = %v", err)
	}
}

func TestFailSecretReads(t *testing.T) {
	s := fakeaws.New(t)
	s.PutSecret("x", "v")
	sm := secretsmanager.NewFromConfig(s.AWSConfig(), func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	s.FailSecretReads(1)
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")}
	if _, err := sm.GetSecretValue(context.Background(), in); apiErrorCode(err) != "InternalServiceError" {
		t.Fatalf("first read: err = %v, want InternalServiceError", err)
	}
	if _, err := sm.GetSecretValue(context.Background(), in); err != nil {
		t.Fatalf("second read: %v", err)
	}
	if got := s.SecretReads("x"); got != 2 {
		t.Errorf("SecretReads = %d, want 2", got)
	}
}

func TestUnsignedRequestRejected(t *testing.T) {
	s := fakeaws.New(t)
	s.PutSecret("x", "v")
	tests := []struct {
		name, path, target string
		wantStatus         int
	}{
		{"json rpc", "/", "secretsmanager.GetSecretValue", http.StatusBadRequest},
		{"rest", "/2015-03-31/functions/f/invocations", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL+tt.path, strings.NewReader(`{"SecretId":"x"}`))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
				t.Errorf("status %d, error type %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
			}
		})
	}
	if got := s.SecretReads("x"); got != 0 {
		t.Errorf("SecretReads = %d, want 0 (unsigned request must not reach the secret)", got)
	}
}

func entry(source, detailType, detail string) ebtypes.PutEventsRequestEntry {
	return ebtypes.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail)}
}

func TestPutEvents(t *testing.T) {
	tests := []struct {
		name       string
		entries    []ebtypes.PutEventsRequestEntry
		wantCodes  []string // per entry, "" for accepted
		wantAPIErr string
	}{
		{"two accepted", []ebtypes.PutEventsRequestEntry{entry("wxcentral", "WeChat Message", `{"appid":"wx1"}`), entry("wxcentral", "WeChat Event", `{"event":"subscribe"}`)}, []string{"", ""}, ""},
		{"malformed detail", []ebtypes.PutEventsRequestEntry{entry("wxcentral", "WeChat Message", `{"appid":`), entry("wxcentral", "WeChat Message", `{}`)}, []string{"MalformedDetail", ""}, ""},
		{"detail not an object", []ebtypes.PutEventsRequestEntry{entry("wxcentral", "WeChat Message", `"text"`)}, []string{"MalformedDetail"}, ""},
		{"missing source", []ebtypes.PutEventsRequestEntry{{DetailType: aws.String("d"), Detail: aws.String("{}")}}, []string{"InvalidArgument"}, ""},
		{"missing detail type", []ebtypes.PutEventsRequestEntry{{Source: aws.String("s"), Detail: aws.String("{}")}}, []string{"InvalidArgument"}, ""},
		{"eleven entries", func() []ebtypes.PutEventsRequestEntry {
			var es []ebtypes.PutEventsRequestEntry
			for i := 0; i < 11; i++ {
				es = append(es, entry("s", "d", "{}"))
			}
			return es
		}(), nil, "ValidationException"},
		{"over 256 KiB", []ebtypes.PutEventsRequestEntry{entry("s", "d", `{"x":"`+strings.Repeat("a", 256*1024)+`"}`)}, nil, "ValidationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakeaws.New(t)
			eb := eventbridge.NewFromConfig(s.AWSConfig())
			out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: tt.entries})
			if tt.wantAPIErr != "" {
				if got := apiErrorCode(err); got != tt.wantAPIErr {
					t.Fatalf("err = %v, want code %s", err, tt.wantAPIErr)
				}
				if n := len(s.Events()); n != 0 {
					t.Errorf("%d events recorded after a rejected request", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := 0
			for i, want := range tt.wantCodes {
				got := out.Entries[i]
				if aws.ToString(got.ErrorCode) != want {
					t.Errorf("entry %d: ErrorCode %q, want %q", i, aws.ToString(got.ErrorCode), want)
				}
				if want != "" {
					failed++
					if got.EventId != nil || aws.ToString(got.ErrorMessage) == "" {
						t.Errorf("failed entry %d: EventId %v, ErrorMessage %q", i, got.EventId, aws.ToString(got.ErrorMessage))
					}
				} else if aws.ToString(got.EventId) == "" {
					t.Errorf("entry %d: no EventId", i)
				}
			}
			if int(out.FailedEntryCount) != failed {
				t.Errorf("FailedEntryCount = %d, want %d", out.FailedEntryCount, failed)
			}
			if got := len(s.Events()); got != len(tt.wantCodes)-failed {
				t.Errorf("Events() has %d, want %d", got, len(tt.wantCodes)-failed)
			}
		})
	}
}

func TestPutEventsRecordsFields(t *testing.T) {
	s := fakeaws.New(t)
	eb := eventbridge.NewFromConfig(s.AWSConfig())
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := entry("wxcentral", "WeChat Event", `{"appid":"wx1","event":"subscribe"}`)
	e.EventBusName = aws.String("wechat")
	e.Time = aws.Time(when)
	e.Resources = []string{"arn:aws:x"}
	out, err := eb.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{e, entry("a", "b", "{}")}})
	if err != nil {
		t.Fatal(err)
	}
	evs := s.Events()
	if len(evs) != 2 {
		t.Fatalf("Events() = %d entries", len(evs))
	}
	got := evs[0]
	if got.Source != "wxcentral" || got.DetailType != "WeChat Event" || got.EventBusName != "wechat" ||
		!got.Time.Equal(when) || len(got.Resources) != 1 || got.EventID != aws.ToString(out.Entries[0].EventId) {
		t.Errorf("event = %+v", got)
	}
	var detail map[string]string
	if err := json.Unmarshal(got.Detail, &detail); err != nil || detail["event"] != "subscribe" {
		t.Errorf("Detail = %s (%v)", got.Detail, err)
	}
	if evs[1].EventBusName != "default" || evs[1].Time.IsZero() {
		t.Errorf("defaulted event = %+v", evs[1])
	}
}

func TestFailPutEvents(t *testing.T) {
	tests := []struct {
		mode           fakeaws.PutFailure
		wantAPIErr     string
		wantFailed     int32
		wantRecorded   int
		wantFirstError string
	}{
		{fakeaws.PutEventsServerError, "InternalException", 0, 0, ""},
		{fakeaws.PutEventsPartialFailure, "", 1, 1, "InternalFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s := fakeaws.New(t)
			eb := eventbridge.NewFromConfig(s.AWSConfig(), func(o *eventbridge.Options) { o.RetryMaxAttempts = 1 })
			in := &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("s", "d", `{"n":1}`), entry("s", "d", `{"n":2}`)}}
			s.FailPutEvents(tt.mode, 1)
			out, err := eb.PutEvents(context.Background(), in)
			if tt.wantAPIErr != "" {
				if got := apiErrorCode(err); got != tt.wantAPIErr {
					t.Fatalf("err = %v, want %s", err, tt.wantAPIErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if out.FailedEntryCount != tt.wantFailed || aws.ToString(out.Entries[0].ErrorCode) != tt.wantFirstError || out.Entries[1].EventId == nil {
					t.Errorf("FailedEntryCount %d, entries %+v", out.FailedEntryCount, out.Entries)
				}
			}
			if got := len(s.Events()); got != tt.wantRecorded {
				t.Errorf("recorded %d events during the failure, want %d", got, tt.wantRecorded)
			}
			// The injected failure is used up: the next call succeeds.
			out, err = eb.PutEvents(context.Background(), in)
			if err != nil || out.FailedEntryCount != 0 {
				t.Fatalf("after the failure: %v, FailedEntryCount %v", err, out)
			}
		})
	}
}

func TestPutEventsLatency(t *testing.T) {
	s := fakeaws.New(t)
	eb := eventbridge.NewFromConfig(s.AWSConfig(), func(o *eventbridge.Options) { o.RetryMaxAttempts = 1 })
	in := &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("s", "d", `{"n":1}`)}}
	const latency = 300 * time.Millisecond
	s.SetPutEventsLatency(latency)

	start := time.Now()
	if _, err := eb.PutEvents(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("PutEvents answered after %v, want at least the latency %v", d, latency)
	}
	if n := len(s.Events()); n != 1 {
		t.Fatalf("%d events recorded, want 1", n)
	}

	// A client that gives up during the wait gets no answer, but the
	// request reached EventBridge: its entry is accepted once the wait ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := eb.PutEvents(ctx, in); err == nil {
		t.Fatal("PutEvents with a 50 ms deadline answered before the 300 ms latency")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Events()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.Events()); n != 2 {
		t.Fatalf("%d events recorded after the abandoned call's wait, want 2", n)
	}

	s.SetPutEventsLatency(0)
	if _, err := eb.PutEvents(context.Background(), in); err != nil || len(s.Events()) != 3 {
		t.Fatalf("without latency: %v, %d events", err, len(s.Events()))
	}
}

type customError struct{}

func (customError) Error() string { return "custom" }

type rawError struct{}

func (rawError) Error() string        { return "raw" }
func (rawError) ErrorPayload() []byte { return []byte(`{"errorMessage":"raw","errorType":"Raw.Type"}`) }

func TestInvoke(t *testing.T) {
	s := fakeaws.New(t)
	s.HandleInvoke("echo", func(ctx context.Context, p []byte) ([]byte, error) { return p, nil })
	s.HandleInvoke("fail", func(ctx context.Context, p []byte) ([]byte, error) {
		return nil, fmt.Errorf("boom: %w", errors.New("inner"))
	})
	s.HandleInvoke("custom", func(ctx context.Context, p []byte) ([]byte, error) { return nil, &customError{} })
	s.HandleInvoke("raw", func(ctx context.Context, p []byte) ([]byte, error) { return nil, rawError{} })
	lc := lambda.NewFromConfig(s.AWSConfig())

	tests := []struct {
		name, function string
		qualifier      string
		payload        string
		wantPayload    string
		wantFuncErr    string
		wantAPIErr     string
	}{
		{"by name", "echo", "", `{"appid":"wx1"}`, `{"appid":"wx1"}`, "", ""},
		{"by ARN", fakeaws.FunctionARN("echo"), "", `[1,2]`, `[1,2]`, "", ""},
		{"by qualified ARN", fakeaws.FunctionARN("echo") + ":live", "", `"s"`, `"s"`, "", ""},
		{"with Qualifier", "echo", "$LATEST", `{}`, `{}`, "", ""},
		{"function error", "fail", "", `{}`, `{"errorMessage":"boom: inner","errorType":"wrapError"}`, "Unhandled", ""},
		{"typed function error", "custom", "", `{}`, `{"errorMessage":"custom","errorType":"customError"}`, "Unhandled", ""},
		{"raw error payload", "raw", "", `{}`, `{"errorMessage":"raw","errorType":"Raw.Type"}`, "Unhandled", ""},
		{"unknown function", "nope", "", `{}`, "", "", "ResourceNotFoundException"},
		{"invalid JSON payload", "echo", "", `{"a":`, "", "", "InvalidRequestContentException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &lambda.InvokeInput{FunctionName: aws.String(tt.function), Payload: []byte(tt.payload)}
			if tt.qualifier != "" {
				in.Qualifier = aws.String(tt.qualifier)
			}
			out, err := lc.Invoke(context.Background(), in)
			if tt.wantAPIErr != "" {
				if got := apiErrorCode(err); got != tt.wantAPIErr {
					t.Fatalf("err = %v, want %s", err, tt.wantAPIErr)
				}
				if tt.wantAPIErr == "ResourceNotFoundException" {
					var rnf *lambdatypes.ResourceNotFoundException
					if !errors.As(err, &rnf) {
						t.Errorf("error %T is not *types.ResourceNotFoundException", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.StatusCode != 200 || aws.ToString(out.FunctionError) != tt.wantFuncErr || string(out.Payload) != tt.wantPayload {
				t.Errorf("StatusCode %d, FunctionError %q, Payload %s; want 200, %q, %s",
					out.StatusCode, aws.ToString(out.FunctionError), out.Payload, tt.wantFuncErr, tt.wantPayload)
			}
		})
	}
	if got := s.Invocations("echo"); got != 4 {
		t.Errorf("Invocations(echo) = %d, want 4 (the invalid payload is rejected before the function)", got)
	}
	if got := s.Invocations("nope"); got != 0 {
		t.Errorf("Invocations(nope) = %d", got)
	}
}

func TestInvokeTypes(t *testing.T) {
	s := fakeaws.New(t)
	got := make(chan []byte, 1)
	s.HandleInvoke("async", func(ctx context.Context, p []byte) ([]byte, error) { got <- p; return nil, nil })
	lc := lambda.NewFromConfig(s.AWSConfig())
	ctx := context.Background()

	out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("async"), InvocationType: lambdatypes.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Fatalf("DryRun: %v, status %v", err, out)
	}
	if n := s.Invocations("async"); n != 0 {
		t.Fatalf("DryRun counted as an invocation (%d)", n)
	}
	out, err = lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("async"), InvocationType: lambdatypes.InvocationTypeEvent, Payload: []byte(`{"k":1}`)})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Event: %v, status %v", err, out)
	}
	if p := <-got; !bytes.Equal(p, []byte(`{"k":1}`)) {
		t.Errorf("async payload = %s", p)
	}
	if n := s.Invocations("async"); n != 1 {
		t.Errorf("Invocations = %d, want 1", n)
	}
}

// TestEnv loads the SDK's default configuration from the environment a
// binary would get, as the Lambda functions do, and reaches every fake.
func TestEnv(t *testing.T) {
	s := fakeaws.New(t)
	s.PutSecret("x", "v")
	s.HandleInvoke("f", func(ctx context.Context, p []byte) ([]byte, error) { return p, nil })
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // the service-specific variables must win
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")}); err != nil {
		t.Errorf("Secrets Manager via env: %v", err)
	}
	if _, err := eventbridge.NewFromConfig(cfg).PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry("s", "d", "{}")}}); err != nil {
		t.Errorf("EventBridge via env: %v", err)
	}
	if _, err := lambda.NewFromConfig(cfg).Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("f")}); err != nil {
		t.Errorf("Lambda via env: %v", err)
	}
	if s.SecretReads("x") != 1 || len(s.Events()) != 1 || s.Invocations("f") != 1 {
		t.Errorf("fake saw reads=%d events=%d invocations=%d, want 1 each", s.SecretReads("x"), len(s.Events()), s.Invocations("f"))
	}
}
