// Package eventstest feeds every sample event in events/ to the real
// bootstrap binaries under the test Lambda Runtime API, wired to dynalite,
// the WeChat simulator and the AWS fakes with the sample configuration of
// examples/local, so the samples stay valid for `sam local invoke -e`.
package eventstest
