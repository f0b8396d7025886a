// Package dynamotest runs dynalite, a DynamoDB-compatible server, for tests
// and gives each test a fresh table with wxcentral's key schema.
//
// dynalite is installed by `make tools` into tools/dynalite. When it is
// missing, tests skip with a message saying so, or fail when CI is set.
// Set DYNAMODB_ENDPOINT to use an already running server instead.
package dynamotest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/modroot"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// Server is a running dynalite process (or an external endpoint).
type Server struct {
	Endpoint string

	mu  sync.Mutex
	cmd *exec.Cmd
}

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
			shared = &Server{Endpoint: ep}
			return
		}
		shared, sharedErr = start()
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
	s, err := start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(s.Stop)
	return s
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
	client := s.Client()
	name := fmt.Sprintf("wxcentral-test-%d-%d", os.Getpid(), tableSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dynamo.CreateTable(ctx, client, name); err != nil {
		t.Fatalf("dynamotest: %v", err)
	}
	return client, name
}

// Client returns a DynamoDB client for s with static test credentials and
// few retries, so a stopped server fails fast.
func (s *Server) Client() *dynamodb.Client {
	return dynamodb.NewFromConfig(AWSConfig(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
	})
}

// AWSConfig is an aws.Config for local servers: region us-east-1, static
// credentials, two attempts.
func AWSConfig() aws.Config {
	return aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 2,
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
	}
}

// Stop kills the server. Safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Bin returns the path of the dynalite executable installed by `make tools`.
func Bin() (string, error) {
	root, err := modroot.Dir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "tools", "dynalite", "node_modules", ".bin", "dynalite")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("dynalite is not installed at %s: run `make tools` (needs Node and npm)", bin)
	}
	return bin, nil
}

// StartProcess starts dynalite on a free loopback port and waits until it
// answers. The process is killed if the parent dies.
func StartProcess() (*Server, error) { return start() }

func start() (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("dynalite did not listen on port %d within 20s", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("dynamotest: %v", err)
	}
	t.Skipf("dynamotest: %v (skipping; CI fails instead)", err)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
