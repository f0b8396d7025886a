// Package dynamotest gives each test a fresh table with wxcentral's key
// schema on a dynalite server (internal/dynalite) shared by the test binary.
//
// dynalite is installed by `make tools` into tools/dynalite. When it is
// missing, tests skip with a message saying so, or fail when CI is set.
// Set DYNAMODB_ENDPOINT to use an already running server instead.
package dynamotest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/dynalite"
)

// Server is a dynalite server a test creates tables on.
type Server struct{ *dynalite.Server }

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	tableSeq   atomic.Int64
)

// Shared returns a server shared by every test in this test binary,
// starting it on first use. It lives until the test process exits.
func Shared(t testing.TB) *Server {
	t.Helper()
	sharedOnce.Do(func() {
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			shared = &Server{&dynalite.Server{Endpoint: ep}}
			return
		}
		var s *dynalite.Server
		s, sharedErr = dynalite.Start()
		shared = &Server{s}
	})
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return shared
}

// Start starts a dedicated dynalite for one test (for tests that stop it);
// it is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := dynalite.Start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return &Server{s}
}

// NewTable creates a fresh table on the shared server and returns a client
// and the table name.
func NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return Shared(t).NewTable(t)
}

// NewTable creates a fresh table on s.
func (s *Server) NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	name := fmt.Sprintf("wxcentral-test-%d-%d", os.Getpid(), tableSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := s.CreateTable(ctx, name)
	if err != nil {
		t.Fatalf("dynamotest: %v", err)
	}
	return client, name
}

// AWSConfig is dynalite.AWSConfig, for tests that build their own client
// (behind a proxy, with another retryer).
func AWSConfig() aws.Config { return dynalite.AWSConfig() }

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("dynamotest: %v", err)
	}
	t.Skipf("dynamotest: %v (skipping; CI fails instead)", err)
}
