package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StateEnv overrides where the state file lives.
const StateEnv = "WXCENTRAL_STATE"

// State is what a running `wxcentral dev` writes so the other subcommands
// find the local stack with no flags. It holds no secret: the callback
// document it names is the committed sample (or the file the operator chose).
type State struct {
	PID              int       `json:"pid"`
	URL              string    `json:"url"` // http://127.0.0.1:8080
	DynamoDBEndpoint string    `json:"dynamodb_endpoint"`
	Region           string    `json:"region"`
	Table            string    `json:"table"`
	AppID            string    `json:"appid"`         // the first configured app
	AppsFile         string    `json:"apps_file"`     // absolute path
	CallbackFile     string    `json:"callback_file"` // absolute path
	WeChatAPIBase    string    `json:"wechat_api_base"`
	WeComAPIBase     string    `json:"wecom_api_base"`
	ForceDailyLimit  int       `json:"force_daily_limit"`
	StartedAt        time.Time `json:"started_at"`
}

// TokenURL is the GET /token URL of appid's access_token.
func (s State) TokenURL(appid string) string { return s.URL + "/token?appid=" + appid }

// CallbackURL is the callback URL of appid.
func (s State) CallbackURL(appid string) string { return s.URL + "/wechat/" + appid }

// ErrNoState means no local stack is running (no state file, or one left by
// a process that has exited).
var ErrNoState = errors.New("no local stack is running (start one with `make run` or `wxcentral dev`)")

// StatePath is where the state file lives, with the environment read
// through getenv: $WXCENTRAL_STATE, else .wxcentral/dev.json at the root of
// the wxcentral checkout containing the working directory, else
// wxcentral/dev.json under $XDG_RUNTIME_DIR, else under the temporary
// directory.
func StatePath(getenv func(string) string) string {
	if p := getenv(StateEnv); p != "" {
		return p
	}
	if root, ok := RepoRoot(); ok {
		return filepath.Join(root, ".wxcentral", "dev.json")
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "wxcentral", "dev.json")
	}
	return filepath.Join(os.TempDir(), "wxcentral-"+strconv.Itoa(os.Getuid()), "dev.json")
}

// RepoRoot returns the root of the wxcentral module above the working
// directory, if there is one.
func RepoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			return dir, isWXCentralModule(b)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isWXCentralModule(gomod []byte) bool {
	for line := range strings.Lines(string(gomod)) {
		if strings.TrimSpace(line) == "module github.com/wxcentral/wxcentral" {
			return true
		}
	}
	return false
}

// WriteState writes s to path atomically (mode 0600, directory 0700).
func WriteState(path string, s State) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

// ReadState reads the state file at path. It returns an error wrapping
// ErrNoState when the file is absent or its process no longer runs.
func ReadState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w: no state file at %s", ErrNoState, path)
	}
	if err != nil {
		return State{}, fmt.Errorf("state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("state file %s: malformed JSON", path)
	}
	if s.URL == "" || s.DynamoDBEndpoint == "" || s.Table == "" {
		return State{}, fmt.Errorf("state file %s: url, dynamodb_endpoint and table are required", path)
	}
	if !processAlive(s.PID) {
		return State{}, fmt.Errorf("%w: state file %s was left by pid %d, which has exited", ErrNoState, path, s.PID)
	}
	return s, nil
}

// RemoveState deletes the state file at path if it still belongs to pid.
func RemoveState(path string, pid int) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	var s State
	if json.Unmarshal(b, &s) == nil && s.PID != pid {
		return nil // another stack took the file over
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
