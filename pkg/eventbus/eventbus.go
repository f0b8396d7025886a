// Package eventbus publishes accepted WeChat pushes to an Amazon
// EventBridge bus: it implements callback.Publisher with PutEvents.
package eventbus

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// API is the part of *eventbridge.Client the Publisher uses.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher puts one event per push on a bus, with source `wxcentral` and
// detail-type `WeChat Message` or `WeChat Event`.
type Publisher struct {
	api API
	bus string
}

var _ callback.Publisher = (*Publisher)(nil)

// New returns a Publisher for the bus named busName (EVENT_BUS_NAME).
func New(api API, busName string) *Publisher {
	return &Publisher{api: api, bus: busName}
}

// ErrRejected is returned (wrapped) when EventBridge answered but did not
// accept the entry (FailedEntryCount > 0).
var ErrRejected = errors.New("eventbridge rejected the entry")

// Publish puts p on the bus. It fails when the call fails or when the entry
// is reported failed, so that the push is not acknowledged to WeChat.
func (p *Publisher) Publish(ctx context.Context, push callback.Push) error {
	out, err := p.api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(p.bus),
		Source:       aws.String(callback.EventSource),
		DetailType:   aws.String(push.DetailType),
		Detail:       aws.String(string(push.Detail)),
	}}})
	if err != nil {
		return fmt.Errorf("publish %s push to %s: %w", push.AppID, p.bus, err)
	}
	if out.FailedEntryCount > 0 {
		code := "unknown"
		if len(out.Entries) > 0 && out.Entries[0].ErrorCode != nil {
			code = *out.Entries[0].ErrorCode
		}
		return fmt.Errorf("publish %s push to %s: %w (%s)", push.AppID, p.bus, ErrRejected, code)
	}
	return nil
}
