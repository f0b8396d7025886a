// Package lambdatest runs real Lambda `bootstrap` binaries in tests.
//
// There is no Docker here, so the package plays the part of the Lambda
// service itself: it serves the Lambda Runtime API (version 2018-06-01,
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) on
// 127.0.0.1, starts the binary with AWS_LAMBDA_RUNTIME_API pointing at it
// and the environment Lambda would give it, and hands it one invocation at a
// time, like a single sandbox:
//
//	bootstrap := lambdatest.Build(t, "token")          // go build ./functions/token, as `make build` does
//	fn := lambdatest.Start(t, bootstrap, map[string]string{"TABLE_NAME": table})
//	out, err := fn.Invoke(ctx, []byte(`{"appid":"wx0123456789abcdef"}`))
//
// Sandbox behaviour follows Lambda: the invocation deadline comes from ctx
// (default 30 s) and reaches the function as Lambda-Runtime-Deadline-Ms; a
// function that overruns it is killed and the invocation fails with
// errorType Sandbox.Timedout; a process that exits (a panic in aws-lambda-go
// reports the error and exits) is started again, cold, on the next Invoke.
package lambdatest
