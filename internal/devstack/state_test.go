package devstack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dev.json")
	want := State{PID: os.Getpid(), URL: "http://127.0.0.1:8080", DynamoDBEndpoint: "http://127.0.0.1:4567",
		Region: Region, Table: "t", AppID: "wx0123456789abcdef", CallbackFile: "/x/callback.json",
		ForceDailyLimit: 10, StartedAt: time.Unix(1_800_000_000, 0).UTC()}
	if err := WriteState(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi.Mode(), err)
	}
	got, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("ReadState = %+v, want %+v", got, want)
	}
	if got.TokenURL("wx1") != "http://127.0.0.1:8080/token?appid=wx1" || got.CallbackURL("wx1") != "http://127.0.0.1:8080/wechat/wx1" {
		t.Errorf("URLs: %s %s", got.TokenURL("wx1"), got.CallbackURL("wx1"))
	}
	// Another pid's file is left alone; our own is removed.
	if err := RemoveState(path, os.Getpid()+1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("RemoveState removed another process's file: %v", err)
	}
	if err := RemoveState(path, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); !errors.Is(err, ErrNoState) {
		t.Errorf("after RemoveState: err = %v, want ErrNoState", err)
	}
}

func TestReadStateRejects(t *testing.T) {
	dir := t.TempDir()
	// A pid that has certainly exited: a child we waited for.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	dead := cmd.ProcessState.Pid()
	cases := []struct {
		name    string
		content string
		noState bool
		want    string
	}{
		{"absent", "", true, "no state file"},
		{"exited process", `{"pid":` + itoa(dead) + `,"url":"http://x","dynamodb_endpoint":"http://y","table":"t"}`, true, "has exited"},
		{"malformed", `{"pid":`, false, "malformed JSON"},
		{"missing url", `{"pid":` + itoa(os.Getpid()) + `,"dynamodb_endpoint":"http://y","table":"t"}`, false, "url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadState(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNoState) != tc.noState {
				t.Errorf("err = %v, want one containing %q (ErrNoState: %v)", err, tc.want, tc.noState)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestStatePath(t *testing.T) {
	env := map[string]string{StateEnv: "/explicit/dev.json", "XDG_RUNTIME_DIR": "/run/user/1"}
	if got := StatePath(func(k string) string { return env[k] }); got != "/explicit/dev.json" {
		t.Errorf("with %s: %s", StateEnv, got)
	}
	delete(env, StateEnv)
	// The tests run inside the checkout: the state file is under its root.
	got := StatePath(func(k string) string { return env[k] })
	root, ok := RepoRoot()
	if !ok || got != filepath.Join(root, ".wxcentral", "dev.json") {
		t.Errorf("in the checkout: %s (root %s, %v)", got, root, ok)
	}
}
