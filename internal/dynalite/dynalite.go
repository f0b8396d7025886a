// Package dynalite runs dynalite, a DynamoDB-compatible server installed by
// `make tools` into tools/dynalite, on a loopback port and creates tables
// with wxcentral's key schema on it. The local stack (`wxcentral dev`) runs
// it as its DynamoDB; internal/dynamotest wraps it for tests.
package dynalite

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
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wxcentral/wxcentral/internal/modroot"
	"github.com/wxcentral/wxcentral/pkg/dynamo"
)

// Server is a running dynalite process, or an external endpoint when made
// as &Server{Endpoint: url}.
type Server struct {
	Endpoint string

	mu  sync.Mutex
	cmd *exec.Cmd
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

// Start starts dynalite on a free loopback port and waits until it
// answers. The process is killed if the parent dies; Stop ends it sooner.
func Start() (*Server, error) {
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

// CreateTable creates the table name with wxcentral's key schema on s and
// returns a client for s.
func (s *Server) CreateTable(ctx context.Context, name string) (*dynamodb.Client, error) {
	client := s.Client()
	if err := dynamo.CreateTable(ctx, client, name); err != nil {
		return nil, fmt.Errorf("dynalite at %s: %w", s.Endpoint, err)
	}
	return client, nil
}

// Client returns a DynamoDB client for s with static local credentials and
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

// Stop kills the server. Safe to call more than once, and a no-op for an
// external endpoint.
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
