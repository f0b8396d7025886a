package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"
)

// ClaimState is the state of a dedupe claim.
type ClaimState int

// Claim states.
const (
	ClaimAbsent     ClaimState = iota // no live claim exists
	ClaimAcquired                     // this caller now holds the claim
	ClaimInProgress                   // another delivery holds it
	ClaimCompleted                    // handled; Reply is the stored plaintext reply ("" for success)
)

// Claim is the answer of a DedupeStore.
type Claim struct {
	State ClaimState
	Reply []byte // for ClaimCompleted: the plaintext reply XML, empty for `success`
	// Digest is the Message.Digest of the push that holds or completed the
	// record ("" when the record has none): a stored reply is only returned
	// to a push with the same digest.
	Digest string
}

// ClaimRequest is one delivery's attempt to claim a key.
type ClaimRequest struct {
	// Owner is the delivery's random token. Release and Complete are
	// conditional on it, so a delivery whose claim expired and was taken
	// over can never delete or overwrite the new holder's claim.
	Owner  string
	Digest string    // Message.Digest of the push, stored with the claim
	Now    time.Time // the store's notion of now, for expiry
	Until  time.Time // the claim blocks other deliveries until then
}

// ErrClaimLost is returned (wrapped) by Complete when the caller no longer
// holds the claim: it expired and another delivery took it over.
var ErrClaimLost = errors.New("callback: dedupe claim held by another delivery")

// DedupeStore records which pushes are being or have been handled, shared
// by every instance of the callback function (docs/dynamodb.md, pkg/dynamo).
// Keys are Message.DedupeKey values; appid scopes them. dedupetest.
// TestStore checks an implementation against this contract.
type DedupeStore interface {
	// Claim takes the claim for key unless a live claim or a completed
	// record exists, in which case it returns that state. Claiming again
	// with the owner that holds the claim succeeds (a retried request).
	Claim(ctx context.Context, appid, key string, req ClaimRequest) (Claim, error)
	// Lookup returns the current state without changing it.
	Lookup(ctx context.Context, appid, key string, now time.Time) (Claim, error)
	// Complete stores the reply of a key owner claimed, keeping its digest;
	// ErrClaimLost when owner no longer holds the claim.
	Complete(ctx context.Context, appid, key, owner string, reply []byte, now time.Time) error
	// Release drops owner's in-progress claim so that the next delivery
	// runs the handler; anything else (another owner's claim, a completed
	// record, nothing) is left alone without error.
	Release(ctx context.Context, appid, key, owner string) error
}

// EventBridge fields of a published push (docs/callback.md).
const (
	EventSource       = "wxcentral"
	DetailTypeMessage = "WeChat Message"
	DetailTypeEvent   = "WeChat Event"
)

// Push is an accepted push ready to publish.
type Push struct {
	AppID      string
	DetailType string // DetailTypeMessage or DetailTypeEvent
	Detail     []byte // JSON, see NewPush
}

// Publisher delivers accepted pushes (pkg/eventbus implements it on
// EventBridge). An error, including a partially failed batch, makes the
// Handler answer 503 so that WeChat retries.
type Publisher interface {
	Publish(ctx context.Context, p Push) error
}

type pushDetail struct {
	AppID      string         `json:"appid"`
	MsgType    string         `json:"msg_type,omitempty"`
	Event      string         `json:"event,omitempty"`
	EventKey   string         `json:"event_key,omitempty"`
	From       string         `json:"from,omitempty"`
	To         string         `json:"to,omitempty"`
	CreateTime int64          `json:"create_time,omitempty"`
	MsgID      string         `json:"msg_id,omitempty"`
	DedupeKey  string         `json:"dedupe_key,omitempty"`
	Fields     map[string]any `json:"fields,omitempty"`
	RawXML     string         `json:"raw_xml,omitempty"`
	Truncated  bool           `json:"raw_xml_truncated,omitempty"`
}

// MaxEntryBytes is EventBridge's limit on one PutEvents entry, counted as
// the bytes of Source, DetailType and Detail (the publisher sets no Time
// or Resources).
const MaxEntryBytes = 256 * 1024

// NewPush builds the EventBridge detail of m: appid, msg_type, event,
// event_key, from, to, create_time, msg_id (MsgId or MsgID), dedupe_key
// (Message.DedupeKey, for consumers to de-duplicate), fields (every element by its XML
// name; nested elements as objects, repeated names as arrays) and raw_xml,
// omitting absent ones.
func NewPush(m *Message) (Push, error) {
	d := pushDetail{AppID: m.AppID, MsgType: m.MsgType, Event: m.Event, EventKey: m.EventKey,
		From: m.FromUserName, To: m.ToUserName, CreateTime: m.CreateTime, MsgID: m.MsgID,
		DedupeKey: m.DedupeKey(), RawXML: m.Raw}
	if len(m.Fields) > 1 {
		d.Fields = fieldsObject(m.Fields, 1, m.Fields[0].End, true)
	}
	p := Push{AppID: m.AppID, DetailType: DetailTypeMessage}
	if m.IsEvent() {
		p.DetailType = DetailTypeEvent
	}
	detail, err := encodeDetail(&d)
	if err != nil {
		return Push{}, err
	}
	// A push of at most MaxBodyBytes can still outgrow the entry limit: its
	// text appears up to four times (raw_xml, fields, event_key...) and JSON
	// escaping doubles some characters. raw_xml, a copy of the rest, is cut.
	for over := len(EventSource) + len(p.DetailType) + len(detail) - MaxEntryBytes; over > 0 && d.RawXML != ""; {
		d.RawXML, d.Truncated = cutJSONString(d.RawXML, over+len(`,"raw_xml_truncated":true`)), true
		if detail, err = encodeDetail(&d); err != nil {
			return Push{}, err
		}
		over = len(EventSource) + len(p.DetailType) + len(detail) - MaxEntryBytes
	}
	p.Detail = detail
	return p, nil
}

func encodeDetail(d *pushDetail) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// cutJSONString returns the longest prefix of s, cut at a character
// boundary, whose JSON encoding is at least shrink bytes shorter than s's.
func cutJSONString(s string, shrink int) string {
	total := 0
	for _, r := range s {
		total += jsonLen(r)
	}
	keep, n := total-shrink, 0
	for i, r := range s {
		if n += jsonLen(r); n > keep {
			return s[:i]
		}
	}
	return s
}

// jsonLen is the encoded length of r in a JSON string without HTML
// escaping; an upper bound for control characters, which XML excludes.
func jsonLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}

// fieldsObject converts the elements fields[from:to] one level below their
// parent into a JSON object. At the top level a repeated name keeps its
// first value, as every other accessor does; below it (PicList items) the
// values form an array.
func fieldsObject(fields []Field, from, to int, top bool) map[string]any {
	obj := make(map[string]any)
	for i := from; i < to; {
		f := fields[i]
		var v any = f.Value
		if f.End > i+1 {
			v = fieldsObject(fields, i+1, f.End, false)
		}
		switch prev := obj[f.Name].(type) {
		case nil:
			obj[f.Name] = v
		case []any:
			if !top {
				obj[f.Name] = append(prev, v)
			}
		default:
			if !top {
				obj[f.Name] = []any{prev, v}
			}
		}
		i = f.End
	}
	return obj
}
