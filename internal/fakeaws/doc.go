// Package fakeaws is an in-process stand-in for the AWS services wxcentral
// calls but cannot run locally: Secrets Manager (GetSecretValue),
// EventBridge (PutEvents) and Lambda (Invoke).
//
// Like net/http/httptest, a Server listens on 127.0.0.1 and speaks the
// services' documented wire protocols (awsJson1_1 for Secrets Manager and
// EventBridge, restJson1 for Lambda), so the real aws-sdk-go-v2 clients and
// real Lambda binaries talk to it unchanged. Point a client at it with
// AWSConfig, or a binary with the environment from Env:
//
//	s := fakeaws.New(t)
//	s.PutSecret("wxcentral/apps", `{"apps":[]}`)
//	sm := secretsmanager.NewFromConfig(s.AWSConfig())
//
// Every request must carry a SigV4 Authorization header, as AWS requires;
// signatures are not verified.
package fakeaws
