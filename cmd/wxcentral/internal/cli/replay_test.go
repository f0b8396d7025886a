package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/wxcentral/wxcentral/internal/logaudit"
)

// startMoto runs moto_server on a free loopback port until the test ends
// and returns its URL. Without moto_server it skips, or fails under CI.
func startMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		msg := "moto_server is needed for the replay test (pip install 'moto[server]'): " + err.Error()
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (skipping; CI fails instead)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	var logs logaudit.Capture
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case err := <-exited:
			t.Fatalf("moto_server exited: %v\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("moto_server did not answer within 30 s\n%s", logs.String())
		}
	}
}

// TestReplay replays a window of archived pushes with `wxcentral replay`
// against moto_server's EventBridge: the bus "wechat" has an archive, and a
// rule matching only replayed events (they carry "replay-name") forwards
// them to a bus "replayed" whose own archive counts what arrived. moto
// replays the whole archive whatever the window, so the window is checked
// in what StartReplay received (DescribeReplay), not in what arrived.
func TestReplay(t *testing.T) {
	url := startMoto(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL_EVENTBRIDGE": url, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "AKIDREPLAYEXAMPLE000", "AWS_SECRET_ACCESS_KEY": "replay-example",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_PROFILE", "") // set empty: the SDK ignores an empty profile
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDREPLAYEXAMPLE000", "replay-example", ""),
		BaseEndpoint: aws.String(url),
	})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	bus := func(name string) string {
		t.Helper()
		out, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.EventBusArn)
	}
	wechatBus, replayedBus := bus("wechat"), bus("replayed")
	bus("no-archive")
	must(eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String("wechat-archive"), EventSourceArn: aws.String(wechatBus)}))
	must(eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String("replayed-archive"), EventSourceArn: aws.String(replayedBus)}))
	rule, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{
		Name: aws.String("late-consumer"), EventBusName: aws.String("wechat"),
		EventPattern: aws.String(`{"source":["wxcentral"],"replay-name":[{"exists":true}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	must(eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String("late-consumer"), EventBusName: aws.String("wechat"),
		Targets: []ebtypes.Target{{Id: aws.String("replayed"), Arn: aws.String(replayedBus)}},
	}))

	// Three pushes as the callback function publishes them.
	pushed := time.Date(2026, 12, 3, 8, 30, 0, 0, time.UTC)
	var entries []ebtypes.PutEventsRequestEntry
	for i := range 3 {
		entries = append(entries, ebtypes.PutEventsRequestEntry{
			EventBusName: aws.String("wechat"), Source: aws.String("wxcentral"), DetailType: aws.String("WeChat Message"),
			Time:   aws.Time(pushed.Add(time.Duration(i) * time.Minute)),
			Detail: aws.String(fmt.Sprintf(`{"appid":"wx0123456789abcdef","msg_type":"text","msg_id":"%d","dedupe_key":"%d"}`, 1000+i, 1000+i)),
		})
	}
	put, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil || put.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v, %d failed", err, put.FailedEntryCount)
	}
	count := func(archive string) int64 {
		t.Helper()
		d, err := eb.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(archive)})
		if err != nil {
			t.Fatal(err)
		}
		return d.EventCount
	}
	if a, r := count("wechat-archive"), count("replayed-archive"); a != 3 || r != 0 {
		t.Fatalf("before the replay: wechat-archive holds %d events (want 3), replayed-archive %d (want 0)", a, r)
	}

	run := func(args ...string) (int, string, string) {
		var out, errOut logaudit.Capture
		env := Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return map[string]string{"EVENT_BUS_NAME": "wechat"}[k] }}
		code := Main(ctx, append([]string{"replay"}, args...), env)
		return code, out.String(), errOut.String()
	}

	// The bus from EVENT_BUS_NAME, its only archive found, to every rule.
	from, to := "2026-12-03T16:00:00+08:00", "2026-12-03T17:00:00+08:00"
	code, out, errOut := run("--from", from, "--to", to, "--wait", "--poll", "100ms")
	if code != ExitOK || !strings.Contains(out, "state COMPLETED") || !strings.Contains(out, "archive wechat-archive") {
		t.Fatalf("replay: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("replay printed:\n%s", out)
	if n := count("replayed-archive"); n != 3 {
		t.Errorf("after the replay the late consumer got %d events, want the 3 archived ones", n)
	}
	name := regexp.MustCompile(`replay (\S+) started`).FindStringSubmatch(out)
	if name == nil {
		t.Fatalf("no replay name in:\n%s", out)
	}
	d, err := eb.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(name[1])})
	if err != nil {
		t.Fatal(err)
	}
	wantFrom, wantTo := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if !aws.ToTime(d.EventStartTime).Equal(wantFrom) || !aws.ToTime(d.EventEndTime).Equal(wantTo) ||
		!strings.HasSuffix(aws.ToString(d.EventSourceArn), ":archive/wechat-archive") ||
		d.Destination == nil || aws.ToString(d.Destination.Arn) != wechatBus || len(d.Destination.FilterArns) != 0 {
		t.Errorf("StartReplay got window %v..%v, source %s, destination %s; want %v..%v from wechat-archive onto %s",
			d.EventStartTime, d.EventEndTime, aws.ToString(d.EventSourceArn), destination(d.Destination), wantFrom, wantTo, wechatBus)
	}

	// Explicit archive (by ARN), one rule, a chosen name, no --wait.
	code, out, errOut = run("--from", from, "--to", to, "--archive", aws.ToString(d.EventSourceArn),
		"--rule", "late-consumer", "--name", "catch-up-1")
	if code != ExitOK || !strings.Contains(out, "replay catch-up-1 started") || !strings.Contains(out, "aws events describe-replay --replay-name catch-up-1") {
		t.Fatalf("replay --archive --rule --name: exit %d\n%s%s", code, out, errOut)
	}
	d, err = eb.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String("catch-up-1")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Destination == nil || len(d.Destination.FilterArns) != 1 || d.Destination.FilterArns[0] != aws.ToString(rule.RuleArn) {
		t.Errorf("replay --rule late-consumer: destination %s, want FilterArns [%s]", destination(d.Destination), aws.ToString(rule.RuleArn))
	}

	// Failures name what is wrong.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to", to}, ExitUsage, "--from: required"},
		{[]string{"--from", "yesterday", "--to", to}, ExitUsage, `--from: "yesterday" is not an RFC 3339 time`},
		{[]string{"--from", to, "--to", from}, ExitUsage, "--to: must be after --from"},
		{[]string{"--from", from, "--to", to, "--name", "no spaces please"}, ExitUsage, "--name:"},
		{[]string{"--from", from, "--to", to, "--bus", "no-archive"}, ExitError, "bus no-archive has no archive"},
		{[]string{"--from", from, "--to", to, "--archive", "nope"}, ExitError, "--archive nope:"},
		{[]string{"--from", from, "--to", to, "--bus", "replayed", "--archive", "wechat-archive"}, ExitError, "a replay goes back onto the archive's own bus"},
		{[]string{"--from", from, "--to", to, "--name", "catch-up-1"}, ExitError, "start replay catch-up-1"},
	} {
		code, out, errOut := run(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("replay %s: exit %d (want %d), stderr %q (want %q)\n%s", strings.Join(tc.args, " "), code, tc.code, errOut, tc.want, out)
		}
	}
}

// destination formats a replay destination for messages.
func destination(d *ebtypes.ReplayDestination) string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("%s filtered to %v", aws.ToString(d.Arn), d.FilterArns)
}
