// Package costbench measures what wxcentral asks of AWS, per unit of work:
// DynamoDB calls and capacity units per sweep (N fresh credentials), per
// refresh, per accepted or duplicate push and per token request, and
// EventBridge entries per push. cmd/benchreport turns these counts into the
// monthly cost table of the README (`go run ./cmd/benchreport -only cost`).
//
// The benchmarks use only the packages' exported API, wired as the
// functions wire them, against dynalite and the WeChat simulator. Capacity
// units come from the server: a client middleware asks every request for
// ReturnConsumedCapacity=TOTAL.
package costbench
