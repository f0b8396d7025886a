package chaos

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wxcentral/wxcentral/internal/logaudit"
)

// The default is the short run of `make test`; `make chaos` passes
// -chaos.hours=24 for the full day of issue 6.
var (
	chaosHours     = flag.Float64("chaos.hours", 4, "simulated hours (24: the full day, with 50 consumers, 5 callers, 1000 pushes)")
	chaosConsumers = flag.Int("chaos.consumers", 0, "consumers (default: 50 for a full day, 10 otherwise)")
	chaosSeed      = flag.Uint64("chaos.seed", 1, "seed of the injected faults and data")
	chaosLogs      = flag.String("chaos.logs", "", "also write every log and EMF metric line of the run to this file")
)

// TestChaos runs the chaos scenario, prints its report and fails on every
// bound that does not hold, then audits every log line the run wrote for
// secrets.
func TestChaos(t *testing.T) {
	d := time.Duration(*chaosHours * float64(time.Hour))
	cfg := Config{Duration: d, Seed: *chaosSeed, Consumers: *chaosConsumers}
	if d < 24*time.Hour {
		// The short run of `make test`: every incident, fewer actors.
		if cfg.Consumers == 0 {
			cfg.Consumers = 10
		}
		cfg.Callers = 3
		cfg.Messages = max(30, int(1000*d/(24*time.Hour)))
	}
	logs := &logaudit.Capture{}
	cfg.Logs = logs
	rep := Run(t, cfg)
	rep.Write(os.Stdout)
	if *chaosLogs != "" {
		if err := os.WriteFile(*chaosLogs, []byte(logs.String()), 0o600); err != nil {
			t.Error(err)
		}
	}
	for _, v := range rep.Violations {
		t.Error(v)
	}

	sc := logaudit.NewScanner()
	add := func(kind string, vs ...string) {
		if err := sc.Add(kind, vs...); err != nil {
			t.Fatal(err)
		}
	}
	w := rep.world
	for _, a := range w.apps {
		add("AppSecret", a.Secret)
		add("callback token", a.Token)
		if err := sc.AddEncodingAESKey(a.AESKey); err != nil {
			t.Fatal(err)
		}
	}
	add("WeCom secret", w.wecomApp.Secret)
	add("token or ticket", w.sim.IssuedValues()...)
	add("WeCom token or ticket", w.wecom.IssuedValues()...)
	add("message content", w.secrets.contents...)
	findings := sc.Scan("chaos logs", logs.String())
	fmt.Printf("log audit: %d log lines from refreshers, consumers, token and callback handlers at debug level; scanned for %v; findings %d %s\n",
		logs.Lines(), sc.Counts(), len(findings), pass(len(findings) == 0))
	for i, f := range findings {
		if i == 20 {
			t.Errorf("... %d more", len(findings)-20)
			break
		}
		t.Errorf("log audit: %s", f)
	}
	if logs.Lines() == 0 {
		t.Error("log audit: no log line was written; the audit proves nothing")
	}
}
