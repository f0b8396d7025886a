package metrics_test

import (
	"os"
	"time"

	"github.com/wxcentral/wxcentral/pkg/metrics"
)

func Example() {
	clock := func() time.Time { return time.Unix(1700000000, 0) }
	m := metrics.New(os.Stdout, metrics.WithClock(clock))
	_ = m.Emit(metrics.Refresh("failed", "configuration")...)
	_ = m.Emit(metrics.WeChatCall("stable_token", 85*time.Millisecond))
	// Output:
	// {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["Outcome"]],"Metrics":[{"Name":"RefreshOutcome","Unit":"Count"}]}]},"Outcome":"failed","RefreshOutcome":1}
	// {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["ErrorClass"]],"Metrics":[{"Name":"RefreshFailures","Unit":"Count"}]}]},"ErrorClass":"configuration","RefreshFailures":1}
	// {"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"wxcentral","Dimensions":[["API"]],"Metrics":[{"Name":"WeChatCallLatency","Unit":"Milliseconds"}]}]},"API":"stable_token","WeChatCallLatency":85}
}
