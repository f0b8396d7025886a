package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
)

// costPackage holds the benchmarks that count what the stack asks of AWS
// per sweep, refresh, push and token request.
const costPackage = "./internal/costbench"

// costArgs runs each cost benchmark a fixed 3 times: the counts do not
// vary, and 3 sweeps of 10,000 credentials take ~20 s against dynalite.
func costArgs() []string {
	return []string{"test", "-run", "^$", "-bench", "^BenchmarkCost", "-benchtime", "3x", "-count", "1", "-timeout", "10m", costPackage}
}

// sweepSizes are the credential counts of BenchmarkCostSweepFresh.
var sweepSizes = []int{10, 1000, 10000}

// Prices: AWS us-east-1, on-demand list prices in USD as published on the
// services' pricing pages (DynamoDB after its November 2024 reduction),
// read December 2026. Free tiers are not subtracted: they are per account
// and usually spent by other workloads.
const (
	priceSchedulerInvocation = 1.00 / 1e6       // EventBridge Scheduler (14M/month free tier)
	priceLambdaRequest       = 0.20 / 1e6       // Lambda requests
	priceLambdaGBSecond      = 0.0000133334     // Lambda arm64 duration
	priceDynamoRead          = 0.125 / 1e6      // DynamoDB on-demand read request unit
	priceDynamoWrite         = 0.625 / 1e6      // DynamoDB on-demand write request unit
	priceEvent               = 1.00 / 1e6       // EventBridge custom event (per 64 KB chunk)
	priceArchiveGB           = 0.10             // EventBridge archive, per GB ingested
	priceHTTPAPIRequest      = 1.00 / 1e6       // API Gateway HTTP API (first 300M/month)
	priceSecretMonth         = 0.40             // Secrets Manager, per secret
	priceSecretsCall         = 0.05 / 10000     // Secrets Manager API calls
	priceAlarmMonth          = 0.10             // CloudWatch standard-resolution alarm
	priceDashboardMonth      = 3.00             // CloudWatch dashboard (3 per account free)
	priceCustomMetricMonth   = 0.30             // CloudWatch custom metric (first 10k); EMF lines are custom metrics
	priceLogsIngestGB        = 0.50             // CloudWatch Logs ingestion (standard class)
	priceNATHour             = 0.045            // NAT gateway hour
	priceNATGB               = 0.045            // NAT gateway data processed
	hoursPerMonth            = 730              // AWS's billing month
	eventChunkBytes          = 64 * 1024        // EventBridge bills each 64 KB of an entry as one event
	lambdaMemoryGB           = 256.0 / 1024     // MemorySize of every function in template.yaml
	lambdaMinBilled          = time.Millisecond // Lambda bills duration in 1 ms steps
)

// Assumptions the benchmarks cannot measure: latencies inside an AWS
// region and to WeChat, which turn measured call counts into billed Lambda
// duration, and the traffic outside the measured paths.
const (
	latencyDynamoDB  = 5 * time.Millisecond   // one DynamoDB call from Lambda, same region
	latencyPutEvents = 15 * time.Millisecond  // one PutEvents call
	latencyWeChat    = 300 * time.Millisecond // one WeChat API call from outside mainland China
	lambdaOverhead   = 2 * time.Millisecond   // handler work besides the calls, per invocation
	eventEnvelope    = 300                    // bytes EventBridge adds to an entry (id, time, account, region…) in the archive
	wechatCallBytes  = 8 * 1024               // bytes through the NAT gateway per WeChat call (TLS handshake, request, answer)
	// otherMetrics are the custom metrics outside the sweep's steady state:
	// RefreshOutcome{refreshed}, WeChatCallLatency{stable_token} and
	// {getticket}, CallbackRequests{2xx}, TokenRequests{2xx}.
	otherMetrics = 5
	// credentialsPerAccount: an account is one access_token and one
	// jsapi_ticket (an Official Account using JS-SDK).
	credentialsPerAccount = 2
)

// secretsPerMonth is one Secrets Manager read per warm instance each time
// its cached document (at most config.MaxCacheTTL old) expires.
var secretsPerMonth = float64(hoursPerMonth * time.Hour / config.MaxCacheTTL)

// work is what one unit (a sweep's credential, a refresh, a push, a token
// request) asks of AWS, as the cost benchmarks measured it.
type work struct {
	dynamoCalls, readUnits, writeUnits float64
	wechatCalls                        float64
	events, eventBytes                 float64
	logBytes                           float64
}

func (w work) minus(o work) work {
	return work{w.dynamoCalls - o.dynamoCalls, w.readUnits - o.readUnits, w.writeUnits - o.writeUnits,
		w.wechatCalls - o.wechatCalls, w.events - o.events, w.eventBytes - o.eventBytes, w.logBytes - o.logBytes}
}

func (w work) scaled(f float64) work {
	return work{w.dynamoCalls * f, w.readUnits * f, w.writeUnits * f, w.wechatCalls * f, w.events * f, w.eventBytes * f, w.logBytes * f}
}

// measured is the input of the cost model.
type measured struct {
	// A sweep of C fresh credentials is sweepFixed + C × sweep, fitted
	// through the measured sizes: the due index finds the due ones, so the
	// per-credential part is about 0 and sweepFixed is the meta item read
	// and the index query.
	sweep, sweepFixed work
	// fullPass is the daily full pass's work per credential (one
	// consistent read), docs/refresh.md#finding-due-work.
	fullPass                  work
	sweepMetric, fixedMetrics float64 // custom metrics: per credential, and the rest of the sweep's
	token                     work    // one access_token refresh (its sweep read included)
	ticket                    work    // one jsapi_ticket refresh (its sweep read and the token read included)
	push                      work    // one accepted push
	duplicate                 work    // one retry of a completed push
	tokenCold                 work    // one token-function request that misses the cache
}

// measure reads the cost benchmarks' results. missing lists the figures
// that are absent.
func measure(r *results) (m measured, missing []string) {
	get := func(bench, unit string) float64 {
		v, ok := r.median(bench, unit)
		if !ok {
			missing = append(missing, bench+" "+unit)
		}
		return v
	}
	load := func(bench string, per float64) work {
		return work{
			dynamoCalls: get(bench, "dynamodb-calls/op") / per,
			readUnits:   get(bench, "read-units/op") / per,
			writeUnits:  get(bench, "write-units/op") / per,
			logBytes:    get(bench, "log-bytes/op") / per,
		}
	}
	nSmall, nLarge := float64(sweepSizes[0]), float64(sweepSizes[len(sweepSizes)-1])
	small, large := sweepBench(sweepSizes[0]), sweepBench(sweepSizes[len(sweepSizes)-1])
	ws, wl := load(small, 1), load(large, 1)
	m.sweep = wl.minus(ws).scaled(1 / (nLarge - nSmall))
	m.sweepFixed = ws.minus(m.sweep.scaled(nSmall))
	ms, ml := get(small, "custom-metrics"), get(large, "custom-metrics")
	m.sweepMetric = (ml - ms) / (nLarge - nSmall)
	m.fixedMetrics = ms - m.sweepMetric*nSmall
	m.fullPass = work{readUnits: get(large, "full-pass-read-units/credential"), dynamoCalls: 1}

	tok, both := "BenchmarkCostRefresh/kinds=access_token", "BenchmarkCostRefresh/kinds=access_token+jsapi_ticket"
	// The refresh benchmarks time whole sweeps, whose fixed part (the meta
	// item, the index query) the model already counts once per sweep.
	m.token = load(tok, 1).minus(m.sweepFixed)
	m.token.wechatCalls = get(tok, "wechat-calls/op")
	m.ticket = load(both, 1)
	m.ticket.wechatCalls = get(both, "wechat-calls/op")
	m.ticket = m.ticket.minus(m.token)

	for _, p := range []struct {
		bench string
		w     *work
	}{{"BenchmarkCostPush/accepted", &m.push}, {"BenchmarkCostPush/duplicate", &m.duplicate}} {
		*p.w = load(p.bench, 1)
		p.w.events = get(p.bench, "events/op")
		p.w.eventBytes = get(p.bench, "event-bytes/op")
	}
	per := get("BenchmarkCostTokenRequest", "requests/op")
	if per > 0 {
		m.tokenCold = work{dynamoCalls: get("BenchmarkCostTokenRequest", "dynamodb-calls/op"),
			readUnits: get("BenchmarkCostTokenRequest", "read-units/op"),
			logBytes:  get("BenchmarkCostTokenRequest", "log-bytes/request") * per}
	}
	return m, missing
}

func sweepBench(n int) string { return fmt.Sprintf("BenchmarkCostSweepFresh/credentials=%d", n) }

// refreshesPerMonth is how often one credential of kind is refreshed: once
// per expires_in (7200 s) less the margin credential.DueAt leaves.
func refreshesPerMonth(kind credential.Kind) float64 {
	t0 := time.Unix(0, 0)
	every := credential.DueAt(kind, t0.Add(7200*time.Second)).Sub(t0)
	return hoursPerMonth * 3600 / every.Seconds()
}

// monthly is one month's cost of the stack, by service, in USD.
type monthly struct {
	scheduler, lambda, dynamo, apiGateway, eventBridge, secrets, cloudWatch float64
	nat                                                                     float64 // only when the refresh function runs in a VPC
}

func (c monthly) total() float64 {
	return c.scheduler + c.lambda + c.dynamo + c.apiGateway + c.eventBridge + c.secrets + c.cloudWatch
}

// calls is the time n sequential calls of latency each take.
func calls(n float64, latency time.Duration) time.Duration {
	return time.Duration(n * float64(latency))
}

// lambdaCost is the price of invocations lasting d each.
func lambdaCost(invocations float64, d time.Duration) float64 {
	billed := math.Ceil(float64(max(d, lambdaMinBilled))/float64(time.Millisecond)) / 1000
	return invocations * (priceLambdaRequest + billed*lambdaMemoryGB*priceLambdaGBSecond)
}

// cost is the monthly cost of accounts accounts (an access_token and a
// jsapi_ticket each) receiving pushes pushes a month, with alarms alarms:
//
//	sweeps      = 730 h × 60 (the schedule's rate(1 minute))
//	credentials = 2 × accounts;  R_k = 730 h / (7200 s − margin_k) refreshes of each credential of kind k
//	refresh     = sweeps × (sweepFixed + credentials × sweep)  +  730/24 × credentials × fullPass
//	              +  Σ_k accounts × R_k × (refresh_k − sweep)
//	DynamoDB    = RRU(refresh + pushes × push) × $0.125/M + WRU(…) × $0.625/M
//	Lambda      = (sweeps + pushes) × $0.20/M + GB-s × $0.0000133334, duration = calls × latency
//	EventBridge = pushes × ⌈event/64 KB⌉ × $1/M + pushes × (event + envelope) bytes × $0.10/GB
//	API Gateway = pushes × $1/M;  Scheduler = sweeps × $1/M
//	Secrets     = 2 × $0.40 + (reloads of refresh + min(pushes, reloads)) × $0.05/10k
//	CloudWatch  = alarms × $0.10 + $3 dashboard + metrics × $0.30 + log bytes × $0.50/GB
//	NAT         = 730 h × $0.045 + WeChat calls × 8 KB × $0.045/GB (optional)
func cost(m measured, accounts int, pushes float64, alarms int) monthly {
	sweeps := float64(hoursPerMonth * 60)
	creds := float64(accounts * credentialsPerAccount)
	rTok, rTkt := refreshesPerMonth(credential.AccessToken)*float64(accounts), refreshesPerMonth(credential.JSAPITicket)*float64(accounts)
	// A refresh replaces its credential's fresh read in that minute's sweep.
	extraTok, extraTkt := m.token.minus(m.sweep), m.ticket.minus(m.sweep)
	steady := m.sweep.scaled(sweeps * creds)
	fullPasses := m.fullPass.scaled(float64(hoursPerMonth) / 24 * creds)
	refreshes := []work{steady, m.sweepFixed.scaled(sweeps), fullPasses, extraTok.scaled(rTok), extraTkt.scaled(rTkt)}
	all := append(refreshes, m.push.scaled(pushes))

	var c monthly
	c.scheduler = sweeps * priceSchedulerInvocation
	for _, w := range all {
		c.dynamo += w.readUnits*priceDynamoRead + w.writeUnits*priceDynamoWrite
	}

	// Lambda duration from the measured calls: a sweep reads its
	// credentials refresh.DefaultConcurrency at a time; WeChat and the
	// refresh's own DynamoDB calls are counted at full latency.
	perSweep := lambdaOverhead + calls(m.sweepFixed.dynamoCalls+math.Ceil(creds/refresh.DefaultConcurrency)*m.sweep.dynamoCalls, latencyDynamoDB)
	refreshTime := func(w work, n float64) float64 {
		d := calls(w.dynamoCalls, latencyDynamoDB) + calls(w.wechatCalls, latencyWeChat)
		return n * d.Seconds() * lambdaMemoryGB * priceLambdaGBSecond
	}
	perPush := lambdaOverhead + calls(m.push.dynamoCalls, latencyDynamoDB) + calls(m.push.events, latencyPutEvents)
	fullPassTime := calls(math.Ceil(creds/refresh.DefaultConcurrency)*m.fullPass.dynamoCalls, latencyDynamoDB).Seconds() *
		float64(hoursPerMonth) / 24 * lambdaMemoryGB * priceLambdaGBSecond
	c.lambda = lambdaCost(sweeps, perSweep) + fullPassTime + refreshTime(extraTok, rTok) + refreshTime(extraTkt, rTkt) + lambdaCost(pushes, perPush)

	c.apiGateway = pushes * priceHTTPAPIRequest
	chunks := math.Max(1, math.Ceil(m.push.eventBytes/eventChunkBytes))
	c.eventBridge = pushes*m.push.events*chunks*priceEvent + pushes*m.push.events*(m.push.eventBytes+eventEnvelope)/1e9*priceArchiveGB

	c.secrets = 2*priceSecretMonth + (secretsPerMonth+math.Min(pushes, secretsPerMonth))*priceSecretsCall

	// A credential's [AppId Kind] TokenSecondsToExpiry is published
	// whenever a sweep reads it: at least at each refresh, about every two
	// hours, so it is counted as one custom metric (an upper bound:
	// CloudWatch prorates a metric by the hours it is published in).
	metrics := m.fixedMetrics + math.Max(m.sweepMetric, 1)*creds + otherMetrics
	var logBytes float64
	for _, w := range all {
		logBytes += w.logBytes
	}
	c.cloudWatch = float64(alarms)*priceAlarmMonth + priceDashboardMonth + metrics*priceCustomMetricMonth + logBytes/1e9*priceLogsIngestGB

	wechatCalls := extraTok.wechatCalls*rTok + extraTkt.wechatCalls*rTkt
	c.nat = hoursPerMonth*priceNATHour + wechatCalls*wechatCallBytes/1e9*priceNATGB
	return c
}

// countAlarms counts the CloudWatch alarms template.yaml declares (all of
// them exist in a production stack).
func countAlarms(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), "Type: AWS::CloudWatch::Alarm"), nil
}

// costRows are the measured counts the cost table is built from.
func costRows(r *results) []row {
	rows := []row{}
	for _, n := range sweepSizes {
		b := sweepBench(n)
		fig := fmt.Sprintf("sweep, %d fresh credentials: ", n)
		rows = append(rows,
			shown(r, fig+"DynamoDB calls", b, "dynamodb-calls/op", "%.0f"),
			shown(r, fig+"read units", b, "read-units/op", "%.1f"),
			shown(r, fig+"wall time, dynalite (ms)", b, "ms/op", "%.0f"),
			perDay(r, fig+"read units per day (x 1440)", b),
		)
	}
	rows = append(rows, shown(r, "full pass (configuration change, daily): read units per credential", sweepBench(10000), "full-pass-read-units/credential", "%.1f"))
	for _, n := range []int{1000, 10000} {
		b := fmt.Sprintf("BenchmarkCostSweepDue/credentials=%d", n)
		fig := fmt.Sprintf("sweep, %d credentials, 1%% due: ", n)
		rows = append(rows,
			shown(r, fig+"refreshed", b, "refreshed/op", "%.0f"),
			shown(r, fig+"DynamoDB calls", b, "dynamodb-calls/op", "%.0f"),
			shown(r, fig+"read units", b, "read-units/op", "%.1f"),
			shown(r, fig+"write units", b, "write-units/op", "%.1f"),
		)
	}
	rows = append(rows,
		shown(r, "sweep, 10 fresh credentials: custom metrics (EMF)", sweepBench(10), "custom-metrics", "%.0f"),
		shown(r, "sweep, 10 fresh credentials: log bytes", sweepBench(10), "log-bytes/op", "%.0f"),
	)
	for _, k := range []string{"access_token", "access_token+jsapi_ticket"} {
		b := "BenchmarkCostRefresh/kinds=" + k
		fig := "refresh of " + k + ": "
		rows = append(rows,
			shown(r, fig+"DynamoDB calls", b, "dynamodb-calls/op", "%.0f"),
			shown(r, fig+"read units", b, "read-units/op", "%.1f"),
			shown(r, fig+"write units", b, "write-units/op", "%.1f"),
			shown(r, fig+"WeChat calls", b, "wechat-calls/op", "%.0f"),
		)
	}
	for _, k := range []string{"accepted", "duplicate"} {
		b := "BenchmarkCostPush/" + k
		fig := k + " push: "
		rows = append(rows,
			shown(r, fig+"DynamoDB calls", b, "dynamodb-calls/op", "%.0f"),
			shown(r, fig+"read units", b, "read-units/op", "%.1f"),
			shown(r, fig+"write units", b, "write-units/op", "%.1f"),
			shown(r, fig+"EventBridge entries", b, "events/op", "%.0f"),
			shown(r, fig+"EventBridge entry bytes", b, "event-bytes/op", "%.0f"),
		)
	}
	rows = append(rows,
		shown(r, "token function, new instance + 99 cached requests: DynamoDB calls", "BenchmarkCostTokenRequest", "dynamodb-calls/op", "%.0f"),
		shown(r, "token function, new instance + 99 cached requests: read units", "BenchmarkCostTokenRequest", "read-units/op", "%.1f"),
	)
	return rows
}

// perDay is a sweep's read units times the 1440 sweeps of a day.
func perDay(r *results, figure, bench string) row {
	v, ok := r.median(bench, "read-units/op")
	if !ok {
		return row{figure, "no result for " + bench + " read-units/op", "", missing}
	}
	return row{figure, fmt.Sprintf("%.0f", v*1440), "", info}
}

// printCost writes the monthly cost table (markdown) for 1, 10 and 100
// accounts and 10k and 1M pushes a month, or why it cannot.
func printCost(w io.Writer, r *results, templatePath string) bool {
	m, miss := measure(r)
	if len(miss) > 0 {
		fmt.Fprintf(w, "\ncost: no table, missing %s\n", strings.Join(miss, ", "))
		return true
	}
	alarms, err := countAlarms(templatePath)
	if err != nil {
		fmt.Fprintf(w, "\ncost: no table: %v\n", err)
		return true
	}
	fmt.Fprintf(w, "\nMonthly cost, USD, us-east-1 on-demand list prices, no free tier (%d alarms, 1 dashboard):\n\n", alarms)
	fmt.Fprintln(w, "| accounts | pushes/month | Scheduler | Lambda | DynamoDB | API Gateway | EventBridge + archive | Secrets Manager | CloudWatch | total | + NAT gateway |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, a := range []int{1, 10, 100} {
		for _, p := range []float64{1e4, 1e6} {
			c := cost(m, a, p, alarms)
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | **%s** | %s |\n", a, pushLabel(p),
				usd(c.scheduler), usd(c.lambda), usd(c.dynamo), usd(c.apiGateway), usd(c.eventBridge), usd(c.secrets),
				usd(c.cloudWatch), usd(c.total()), usd(c.nat))
		}
	}
	return false
}

func pushLabel(p float64) string {
	if p >= 1e6 {
		return fmt.Sprintf("%.0fM", p/1e6)
	}
	return fmt.Sprintf("%.0fk", p/1e3)
}

func usd(v float64) string {
	if v < 0.01 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
