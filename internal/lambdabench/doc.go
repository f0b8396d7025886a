// Package lambdabench measures the real bootstrap binaries under the test
// Lambda Runtime API (internal/lambdatest): init time (exec to the first
// /next) and peak RSS while serving 10,000 warm requests, each function
// wired to dynalite, the WeChat simulator and the fake AWS endpoints.
//
// It holds benchmarks only; `make bench` runs them with -benchtime 1x.
package lambdabench
