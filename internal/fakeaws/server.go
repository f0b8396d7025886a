package fakeaws

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and AccountID appear in the ARNs the fake returns and in AWSConfig.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// Static credentials handed out by AWSConfig and Env. They are not secret:
// the fake never checks signatures.
const (
	AccessKeyID     = "AKIAFAKEAWS000000000"
	SecretAccessKey = "fakeaws-secret-access-key"
)

// maxBody bounds every request body the fake reads (Lambda's synchronous
// payload limit is the largest one among the services it fakes).
const maxBody = 6 << 20

// Server is a fake of Secrets Manager, EventBridge and Lambda on one
// loopback listener. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port, with no trailing slash.
	URL string

	srv *httptest.Server

	mu sync.Mutex

	secrets      map[string]*secret // by name
	secretReads  map[string]int     // by name
	secretFails  int
	secretSeq    int
	events       []Event
	eventSeq     int
	putFailMode  PutFailure
	putFailCount int
	putLatency   time.Duration
	functions    map[string]InvokeFunc
	invocations  map[string]int
	async        sync.WaitGroup
}

// NewServer starts a fake on 127.0.0.1. Call Close when done.
func NewServer() *Server {
	s := &Server{
		secrets:     map[string]*secret{},
		secretReads: map[string]int{},
		functions:   map[string]InvokeFunc{},
		invocations: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", s.serveJSONRPC)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.serveInvoke)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeRESTError(w, http.StatusNotFound, "UnknownOperationException",
			fmt.Sprintf("fakeaws: no operation for %s %s", r.Method, r.URL.Path))
	})
	s.srv = httptest.NewServer(requireSigV4(mux))
	s.URL = s.srv.URL
	return s
}

// New starts a fake that is closed when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	return s
}

// Close stops the listener and waits for asynchronous (Event) invocations
// to finish.
func (s *Server) Close() {
	s.srv.Close()
	s.async.Wait()
}

// AWSConfig returns a configuration for aws-sdk-go-v2 clients: region
// us-east-1, static credentials and BaseEndpoint set to the fake, so
// secretsmanager.NewFromConfig, eventbridge.NewFromConfig and
// lambda.NewFromConfig all reach it.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL),
	}
}

// Env returns the environment that points a binary's default SDK
// configuration (config.LoadDefaultConfig) at the fake: the service-specific
// endpoint variables, a region and static credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": s.URL,
		"AWS_ENDPOINT_URL_EVENTBRIDGE":     s.URL,
		"AWS_ENDPOINT_URL_LAMBDA":          s.URL,
		"AWS_REGION":                       Region,
		"AWS_ACCESS_KEY_ID":                AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":            SecretAccessKey,
	}
}

// requireSigV4 rejects unsigned requests the way AWS does, which catches a
// binary whose credential chain resolved to nothing.
func requireSigV4(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
			if r.Header.Get("X-Amz-Target") != "" {
				writeJSONError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token")
				return
			}
			writeRESTError(w, http.StatusForbidden, "MissingAuthenticationTokenException", "Missing Authentication Token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveJSONRPC dispatches awsJson1_1 operations by X-Amz-Target.
func (s *Server) serveJSONRPC(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		writeJSONError(w, http.StatusBadRequest, "SerializationException",
			fmt.Sprintf("unsupported Content-Type %q, want application/x-amz-json-1.1", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", "request body too large")
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "secretsmanager.GetSecretValue":
		s.getSecretValue(w, body)
	case "AWSEvents.PutEvents":
		s.putEvents(w, body)
	default:
		writeJSONError(w, http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("fakeaws does not implement X-Amz-Target %q", target))
	}
}

// writeJSON answers an awsJson1_1 success.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// writeJSONError answers an awsJson1_1 error: the code in "__type" and the
// X-Amzn-ErrorType header, the text in "message".
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeRESTError answers a restJson1 error as Lambda does: the code in the
// X-Amzn-ErrorType header, {"Type","Message"} in the body.
func writeRESTError(w http.ResponseWriter, status int, code, message string) {
	typ := "User"
	if status >= 500 {
		typ = "Service"
	}
	b, _ := json.Marshal(map[string]string{"Type": typ, "Message": message})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// epochSeconds is an awsJson timestamp: seconds since the epoch as a number.
func epochSeconds(sec, nsec int64) json.Number {
	if nsec == 0 {
		return json.Number(fmt.Sprintf("%d", sec))
	}
	return json.Number(fmt.Sprintf("%d.%03d", sec, nsec/1e6))
}

// uuidFrom formats n as a UUID-shaped identifier; deterministic so tests
// that compare ids are reproducible.
func uuidFrom(prefix uint32, n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", prefix, n)
}
