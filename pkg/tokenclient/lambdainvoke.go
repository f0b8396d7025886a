package tokenclient

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

// LambdaAPI is the part of *lambda.Client the invalidator uses.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// LambdaInvalidator invokes the refresh function synchronously with a
// force request (DESIGN.md §5).
type LambdaInvalidator struct {
	api      LambdaAPI
	function string
}

// NewLambdaInvalidator returns an Invalidator invoking function (a name or
// ARN, as REFRESH_FUNCTION_NAME holds).
func NewLambdaInvalidator(api LambdaAPI, function string) *LambdaInvalidator {
	return &LambdaInvalidator{api: api, function: function}
}

// ForceRefresh implements Invalidator.
func (l *LambdaInvalidator) ForceRefresh(ctx context.Context, appid string, kind credential.Kind, staleToken string) (credential.Credential, error) {
	payload, err := json.Marshal(ForceRequest{Action: "force", AppID: appid, Kind: kind, StaleToken: staleToken})
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
	return decodeForceAnswer(appid, kind, out.Payload)
}
