// Package lambdainvoke reaches the refresh function over the AWS Lambda
// Invoke API: a tokenclient.Invalidator for code running in AWS. It is a
// separate package so that tokenclient itself does not link the Lambda
// client (about 0.6 MB of binary) into services that never invalidate.
package lambdainvoke

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
	"github.com/wxcentral/wxcentral/pkg/tokenclient"
)

// API is the part of *lambda.Client the invalidator uses.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Invalidator invokes the refresh function synchronously with a force
// request (docs/refresh.md) and decodes its answer; refusals are
// *tokenclient.RefreshError, a function error is a plain error.
type Invalidator struct {
	api      API
	function string
}

var _ tokenclient.Invalidator = (*Invalidator)(nil)

// New returns an Invalidator invoking function (a name or ARN, as
// REFRESH_FUNCTION_NAME holds) through api (lambda.NewFromConfig(cfg)).
func New(api API, function string) *Invalidator {
	return &Invalidator{api: api, function: function}
}

// ForceRefresh implements tokenclient.Invalidator.
func (l *Invalidator) ForceRefresh(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error) {
	payload, err := json.Marshal(tokenapi.NewForceRequest(appid, kind, staleToken))
	if err != nil {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: encode: %w", appid, kind, err)
	}
	out, err := l.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(l.function),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: invoke %s: %w", appid, kind, l.function, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		msg := fe.ErrorMessage
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return credential.Credential{}, fmt.Errorf("force refresh %s/%s: function %s failed (%s): %s %s",
			appid, kind, l.function, aws.ToString(out.FunctionError), fe.ErrorType, msg)
	}
	return tokenclient.DecodeForceAnswer(appid, kind, out.Payload)
}

// Function invokes one function synchronously with a raw payload: the
// callback function hands a platform's authorization events to the refresh
// function through it (component.Invoke).
type Function struct {
	api  API
	name string
}

// NewFunction returns a Function invoking name (a name or ARN, as
// REFRESH_FUNCTION_NAME holds) through api.
func NewFunction(api API, name string) *Function { return &Function{api: api, name: name} }

// Invoke returns the function's answer; a transport failure or a function
// error (its errorType, never its payload beyond 200 bytes) is an error.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	out, err := f.api.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(f.name),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", f.name, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		msg := fe.ErrorMessage
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return nil, fmt.Errorf("function %s failed (%s): %s %s", f.name, aws.ToString(out.FunctionError), fe.ErrorType, msg)
	}
	return out.Payload, nil
}
