package callback

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/wxcentral/wxcentral/pkg/callback/internal/xmlscan"
)

// Field is one element of a push. A parsed document is a []Field in
// document order: index 0 is the root (`<xml>`, Depth 0), its children have
// Depth 1, and the descendants of element i are the fields i+1 .. End-1.
type Field = xmlscan.Field

// Errors for a body that is not a WeChat push's XML. ParseMessage's errors
// wrap ErrMalformed and, for such a body, one of these.
var (
	ErrNotXML  = xmlscan.ErrNotXML
	ErrDoctype = xmlscan.ErrDoctype
)

// parseXML parses a push document into buf (see xmlscan.Parse); errors
// wrap ErrMalformed.
func parseXML(s string, buf []Field) ([]Field, error) {
	fields, err := xmlscan.Parse(s, buf)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return fields, nil
}

// Message types (MsgType) of WeChat pushes.
const (
	MsgTypeText       = "text"
	MsgTypeImage      = "image"
	MsgTypeVoice      = "voice"
	MsgTypeVideo      = "video"
	MsgTypeShortVideo = "shortvideo"
	MsgTypeLocation   = "location"
	MsgTypeLink       = "link"
	MsgTypeEvent      = "event"
)

// Event names (Event, when MsgType is "event").
const (
	EventSubscribe             = "subscribe"
	EventUnsubscribe           = "unsubscribe"
	EventScan                  = "SCAN"
	EventLocation              = "LOCATION"
	EventClick                 = "CLICK"
	EventView                  = "VIEW"
	EventTemplateSendJobFinish = "TEMPLATESENDJOBFINISH"
	EventMassSendJobFinish     = "MASSSENDJOBFINISH"
	EventScanCodePush          = "scancode_push"
	EventScanCodeWaitMsg       = "scancode_waitmsg"
	EventPicSysPhoto           = "pic_sysphoto"
	EventPicPhotoOrAlbum       = "pic_photo_or_album"
	EventPicWeixin             = "pic_weixin"
	EventLocationSelect        = "location_select"
	EventViewMiniprogram       = "view_miniprogram"
)

// Message is a parsed push. The common fields are decoded; every element is
// kept in Fields by its XML name, and Raw holds the plaintext XML, so
// unknown message and event types lose nothing. Typed returns the typed
// form of a known type.
type Message struct {
	AppID        string // the account the push was addressed to (from the URL)
	ToUserName   string
	FromUserName string
	CreateTime   int64
	MsgType      string
	Event        string
	EventKey     string
	Content      string
	MsgID        string  // MsgId (ordinary messages), else MsgID (template and mass-send results)
	Fields       []Field // every element in document order; Fields[0] is the root
	Raw          string  // the plaintext as received (after decryption): XML, or JSON for a mini-program's JSON push

	fieldsBuf [12]Field
}

// ParseMessage parses a plaintext push. Unknown types parse without error.
// Errors wrap ErrMalformed.
func ParseMessage(raw []byte) (*Message, error) {
	return parseMessage(string(raw))
}

func parseMessage(raw string) (*Message, error) {
	// One allocation holds the Message and, for typical pushes, its fields.
	m := &Message{Raw: raw}
	fields, err := parseXML(raw, m.fieldsBuf[:0])
	if err != nil {
		return nil, err
	}
	if err := m.decode(fields); err != nil {
		return nil, err
	}
	return m, nil
}

// decode sets m.Fields and the common fields from them. A repeated
// top-level element is read as its first occurrence, as Get, the published
// `fields` and the safe-mode envelope read it.
func (m *Message) decode(fields []Field) error {
	m.Fields = fields
	var createTime, msgID string
	var seen uint16
	for i := 1; i < len(fields); i++ {
		f := &fields[i]
		if f.Depth != 1 {
			continue
		}
		var dst *string
		var bit uint16
		switch f.Name {
		case "ToUserName":
			dst, bit = &m.ToUserName, 1<<0
		case "FromUserName":
			dst, bit = &m.FromUserName, 1<<1
		case "CreateTime":
			dst, bit = &createTime, 1<<2
		case "MsgType":
			dst, bit = &m.MsgType, 1<<3
		case "Event":
			dst, bit = &m.Event, 1<<4
		case "EventKey":
			dst, bit = &m.EventKey, 1<<5
		case "Content":
			dst, bit = &m.Content, 1<<6
		case "MsgId":
			dst, bit = &m.MsgID, 1<<7
		case "MsgID":
			dst, bit = &msgID, 1<<8
		default:
			continue
		}
		if seen&bit == 0 {
			seen |= bit
			*dst = f.Value
		}
	}
	if m.MsgID == "" {
		m.MsgID = msgID
	}
	if createTime != "" {
		var err error
		if m.CreateTime, err = strconv.ParseInt(strings.TrimSpace(createTime), 10, 64); err != nil {
			return fmt.Errorf("%w: CreateTime is not an integer", ErrMalformed)
		}
	}
	return nil
}

// Get returns the text of the first top-level element named name, or "".
func (m *Message) Get(name string) string {
	v, _ := m.lookup(name)
	return v
}

func (m *Message) lookup(name string) (string, bool) {
	for i := 1; i < len(m.Fields); i++ {
		if m.Fields[i].Depth == 1 && m.Fields[i].Name == name {
			return m.Fields[i].Value, true
		}
	}
	return "", false
}

// Children returns the child elements of the first top-level element named
// name (for nested fields such as ScanCodeInfo or SendPicsInfo).
func (m *Message) Children(name string) []Field {
	for i := 1; i < len(m.Fields); i++ {
		if f := m.Fields[i]; f.Depth == 1 && f.Name == name {
			return m.Fields[i+1 : f.End]
		}
	}
	return nil
}

// IsEvent reports whether the push is an event.
func (m *Message) IsEvent() bool { return m.MsgType == MsgTypeEvent }

// DedupeKey is the key of docs/dynamodb.md: MsgId, else MsgID, else
// FromUserName|CreateTime| and the first 16 hex digits of the SHA-256 of
// the plaintext XML. Events carry no id, and two of one user in one second
// (card events, subscribe_msg_sent_event) differ only in their content;
// WeChat's retries of one push carry the same plaintext.
func (m *Message) DedupeKey() string {
	if m.MsgID != "" {
		return m.MsgID
	}
	ct := strconv.FormatInt(m.CreateTime, 10)
	if ct == "0" && m.Get("CreateTime") == "" {
		ct = ""
	}
	sum := sha256.Sum256([]byte(m.Raw))
	var h [16]byte
	hex.Encode(h[:], sum[:8])
	return m.FromUserName + "|" + ct + "|" + string(h[:])
}

// Digest is the hex SHA-256 of the plaintext XML: a stored reply is only
// returned to a push with the same digest (docs/dynamodb.md).
func (m *Message) Digest() string {
	sum := sha256.Sum256([]byte(m.Raw))
	return hex.EncodeToString(sum[:])
}

func childValue(fields []Field, name string) string {
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f
}
