package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// DetailTypeEvent is the EventBridge detail-type of a platform event
// (source `wxcentral`, like the callback's pushes).
const DetailTypeEvent = "WeChat Component Event"

// secretFields are elements never published: an authorization code (with
// the platform token every reader may fetch) buys the authorizer's refresh
// token, which only the refresh function may hold (docs/platform.md).
var secretFields = map[string]bool{"AuthorizationCode": true, "PreAuthCode": true, "ComponentVerifyTicket": true}

// PublisherSink publishes every event to the bus through a
// callback.Publisher (pkg/eventbus), without its secret fields.
type PublisherSink struct{ Publisher callback.Publisher }

// eventDetail is the published detail.
type eventDetail struct {
	ComponentAppID  string            `json:"component_appid"`
	InfoType        string            `json:"info_type"`
	AuthorizerAppID string            `json:"authorizer_appid,omitempty"`
	CreateTime      int64             `json:"create_time"`
	CodeExpiresAt   int64             `json:"authorization_code_expired_time,omitempty"`
	DedupeKey       string            `json:"dedupe_key"` // WeChat re-pushes an event it saw no `success` for
	Fields          map[string]string `json:"fields,omitempty"`
}

// Event publishes e.
func (s PublisherSink) Event(ctx context.Context, e Event) error {
	d := eventDetail{
		ComponentAppID: e.ComponentAppID, InfoType: e.InfoType, AuthorizerAppID: e.AuthorizerAppID,
		CreateTime: e.CreateTime.Unix(),
		DedupeKey:  e.InfoType + "|" + e.AuthorizerAppID + "|" + strconv.FormatInt(e.CreateTime.Unix(), 10),
	}
	if !e.AuthorizationCodeExpiredTime.IsZero() {
		d.CodeExpiresAt = e.AuthorizationCodeExpiredTime.Unix()
	}
	if m := e.Message; m != nil && len(m.Fields) > 1 {
		d.Fields = map[string]string{}
		for _, f := range m.Fields[1:m.Fields[0].End] {
			if _, seen := d.Fields[f.Name]; f.Depth == 1 && !secretFields[f.Name] && !seen {
				d.Fields[f.Name] = f.Value
			}
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("component event %s of %s: encode: %w", e.InfoType, e.ComponentAppID, err)
	}
	return s.Publisher.Publish(ctx, callback.Push{AppID: e.ComponentAppID, DetailType: DetailTypeEvent, Detail: bytes.TrimRight(buf.Bytes(), "\n")})
}
