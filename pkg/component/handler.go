package component

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/credential"
)

// InfoTypes of the pushes to the authorization-event URL.
const (
	InfoVerifyTicket     = "component_verify_ticket"
	InfoAuthorized       = "authorized"
	InfoUpdateAuthorized = "updateauthorized"
	InfoUnauthorized     = "unauthorized"
)

// Platform is one third-party platform's event-URL settings: the callback
// document entry {"type":"component","appid","token","encoding_aes_key"}.
type Platform struct {
	AppID          string // the component appid, also the receive id of its messages
	Token          string
	EncodingAESKey string
	// PreviousEncodingAESKey is tried when EncodingAESKey fails, during a
	// key change in the Open Platform console; optional.
	PreviousEncodingAESKey string
}

// PlatformsFunc returns the configured platforms (loaded lazily and cached
// by the caller, like the callback document).
type PlatformsFunc func(ctx context.Context) ([]Platform, error)

// TicketStore keeps the newest component_verify_ticket of each platform
// (pkg/dynamo.CredentialStore).
type TicketStore interface {
	// PutVerifyTicket stores ticket unless the stored one has a newer or
	// the same CreateTime. It reports whether it wrote; an older ticket
	// returns credential.ErrSuperseded.
	PutVerifyTicket(ctx context.Context, componentAppID, ticket string, createTime time.Time) (bool, error)
}

// Event is a decrypted push other than component_verify_ticket.
type Event struct {
	ComponentAppID string
	InfoType       string
	CreateTime     time.Time
	// Authorization events: AuthorizerAppid; for authorized and
	// updateauthorized also AuthorizationCode (single use, to exchange with
	// api_query_auth), its expiry and PreAuthCode.
	AuthorizerAppID              string
	AuthorizationCode            string
	AuthorizationCodeExpiredTime time.Time
	PreAuthCode                  string
	// Message is the whole decrypted push (every element by name, Raw).
	Message *callback.Message
}

// EventSink receives every accepted event. An error answers 503, so WeChat
// pushes the event again: a sink sees an event at least once.
type EventSink interface {
	Event(ctx context.Context, e Event) error
}

// Defaults of Options.
const (
	DefaultMaxSkew      = callback.DefaultMaxSkew
	DefaultStoreTimeout = 2 * time.Second
)

// Options configure a Handler. Platforms and Tickets are required.
type Options struct {
	Platforms PlatformsFunc
	Tickets   TicketStore
	Events    EventSink // nil: events are acknowledged and logged only
	Clock     func() time.Time
	// MaxSkew is the replay window for `timestamp`, either direction: zero
	// means DefaultMaxSkew, a negative value disables the check.
	MaxSkew time.Duration
	// StoreTimeout bounds the ticket write (WeChat waits 5 s); zero:
	// DefaultStoreTimeout.
	StoreTimeout time.Duration
	// Budget is a push's time from its arrival (callback.WithArrival): the
	// event sink gets what is left of it; zero: callback.DefaultBudget.
	Budget time.Duration
	Logger *slog.Logger // nil: slog.Default()
}

// Handler serves `POST /component/{component_appid}`.
type Handler struct{ o Options }

// NewHandler returns a Handler after checking the required options.
func NewHandler(o Options) (*Handler, error) {
	if o.Platforms == nil || o.Tickets == nil {
		return nil, errors.New("component: Options.Platforms and Options.Tickets are required")
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	if o.Budget <= 0 {
		o.Budget = callback.DefaultBudget
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Handler{o: o}, nil
}

// answer is the outcome of one push.
type answer struct {
	status  int
	outcome string // log outcome
	msg     string // body of a 4xx/5xx: what is wrong, never a value
}

func refuse(status int, outcome, msg string) answer { return answer{status, outcome, msg} }

var successBody = []byte("success")

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	appid := pathAppID(r)
	a, info := h.serve(r, appid)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(a.status)
	if a.status == http.StatusOK {
		w.Write(successBody)
	} else {
		w.Write([]byte(a.msg))
	}
	level := slog.LevelInfo
	switch {
	case a.status >= 500:
		level = slog.LevelError
	case a.status >= 400:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{slog.String("component_appid", appid), slog.String("outcome", a.outcome), slog.Int("status", a.status)}
	if info != "" {
		attrs = append(attrs, slog.String("info_type", info))
	}
	if a.status != http.StatusOK {
		attrs = append(attrs, slog.String("error", a.msg))
	}
	h.o.Logger.LogAttrs(r.Context(), level, "component push", attrs...)
}

func (h *Handler) serve(r *http.Request, appid string) (answer, string) {
	ctx := r.Context()
	due := callback.Due(ctx, h.o.Budget)
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "bad_method", "only POST is accepted"), ""
	}
	platforms, err := h.o.Platforms(ctx)
	if err != nil {
		h.o.Logger.ErrorContext(ctx, "component configuration", slog.String("error", err.Error()))
		return refuse(http.StatusServiceUnavailable, "config_error", "configuration unavailable"), ""
	}
	var p *Platform
	for i := range platforms {
		if platforms[i].AppID == appid {
			p = &platforms[i]
			break
		}
	}
	if p == nil || appid == "" {
		return refuse(http.StatusNotFound, "unknown_platform", "unknown component appid"), ""
	}
	if r.ContentLength > callback.MaxBodyBytes {
		return refuse(http.StatusRequestEntityTooLarge, "too_large", "body over 64 KiB"), ""
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, callback.MaxBodyBytes+1))
	if err != nil {
		return refuse(http.StatusBadRequest, "unreadable_body", "body could not be read"), ""
	}
	if len(body) > callback.MaxBodyBytes {
		return refuse(http.StatusRequestEntityTooLarge, "too_large", "body over 64 KiB"), ""
	}
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	if !callback.VerifySignature(q.Get("signature"), p.Token, ts, nonce) {
		return refuse(http.StatusForbidden, "bad_signature", "signature: does not verify"), ""
	}
	if !h.fresh(ts) {
		return refuse(http.StatusForbidden, "stale_timestamp", "timestamp: missing or outside the replay window"), ""
	}
	env, err := callback.ParseMessage(body)
	if err != nil {
		return refuse(http.StatusBadRequest, "malformed", "body: "+err.Error()), ""
	}
	enc := env.Get("Encrypt")
	if enc == "" {
		// Every push to this URL is encrypted; a plaintext one is not WeChat's.
		return refuse(http.StatusForbidden, "not_encrypted", "Encrypt: missing"), ""
	}
	if !callback.VerifyMsgSignature(q.Get("msg_signature"), p.Token, ts, nonce, enc) {
		return refuse(http.StatusForbidden, "bad_msg_signature", "msg_signature: does not verify"), ""
	}
	if id := env.Get("AppId"); id != "" && id != appid {
		return refuse(http.StatusForbidden, "appid_mismatch", "AppId: not this platform"), ""
	}
	plain, status, msg := decrypt(p, enc)
	if status != 0 {
		return refuse(status, "bad_encrypt", msg), ""
	}
	m, err := callback.ParseMessage(plain)
	if err != nil {
		return refuse(http.StatusBadRequest, "malformed", "decrypted message: "+err.Error()), ""
	}
	m.AppID = appid
	if id := m.Get("AppId"); id != appid {
		return refuse(http.StatusForbidden, "appid_mismatch", "AppId: not this platform"), ""
	}
	info := m.Get("InfoType")
	if info == "" {
		return refuse(http.StatusBadRequest, "malformed", "InfoType: missing"), ""
	}
	if m.CreateTime <= 0 {
		return refuse(http.StatusBadRequest, "malformed", "CreateTime: missing"), info
	}
	if info == InfoVerifyTicket {
		end := time.Now().Add(h.o.StoreTimeout)
		if due.Before(end) {
			end = due
		}
		sctx, cancel := context.WithDeadline(ctx, end)
		defer cancel()
		return h.ticket(sctx, appid, m), info
	}
	// The sink (the refresh function's exchange, the bus) gets what is left
	// of the budget: WeChat has its answer within 5 s of sending.
	sctx, cancel := context.WithDeadline(ctx, due)
	defer cancel()
	return h.event(sctx, appid, info, m), info
}

// ticket stores a component_verify_ticket; an older one than the stored is
// acknowledged and dropped.
func (h *Handler) ticket(ctx context.Context, appid string, m *callback.Message) answer {
	ticket := m.Get("ComponentVerifyTicket")
	if ticket == "" {
		return refuse(http.StatusBadRequest, "malformed", "ComponentVerifyTicket: missing")
	}
	wrote, err := h.o.Tickets.PutVerifyTicket(ctx, appid, ticket, time.Unix(m.CreateTime, 0))
	switch {
	case errors.Is(err, credential.ErrSuperseded):
		return answer{status: http.StatusOK, outcome: "ticket_superseded"}
	case err != nil:
		h.o.Logger.ErrorContext(ctx, "component ticket store", slog.String("component_appid", appid), slog.String("error", err.Error()))
		return refuse(http.StatusServiceUnavailable, "store_error", "ticket could not be stored; push again")
	case !wrote:
		return answer{status: http.StatusOK, outcome: "ticket_duplicate"}
	}
	return answer{status: http.StatusOK, outcome: "ticket_stored"}
}

// event hands an authorization (or other) event to the sink.
func (h *Handler) event(ctx context.Context, appid, info string, m *callback.Message) answer {
	e := Event{
		ComponentAppID: appid, InfoType: info, CreateTime: time.Unix(m.CreateTime, 0),
		AuthorizerAppID: m.Get("AuthorizerAppid"), AuthorizationCode: m.Get("AuthorizationCode"),
		PreAuthCode: m.Get("PreAuthCode"), Message: m,
	}
	switch info {
	case InfoAuthorized, InfoUpdateAuthorized, InfoUnauthorized:
		if e.AuthorizerAppID == "" {
			return refuse(http.StatusBadRequest, "malformed", "AuthorizerAppid: missing")
		}
	}
	if info == InfoAuthorized || info == InfoUpdateAuthorized {
		if e.AuthorizationCode == "" {
			return refuse(http.StatusBadRequest, "malformed", "AuthorizationCode: missing")
		}
		if s := strings.TrimSpace(m.Get("AuthorizationCodeExpiredTime")); s != "" {
			sec, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return refuse(http.StatusBadRequest, "malformed", "AuthorizationCodeExpiredTime: not an integer")
			}
			e.AuthorizationCodeExpiredTime = time.Unix(sec, 0)
		}
	}
	if h.o.Events == nil {
		return answer{status: http.StatusOK, outcome: "event_unhandled"}
	}
	if err := h.o.Events.Event(ctx, e); err != nil {
		h.o.Logger.ErrorContext(ctx, "component event sink", slog.String("component_appid", appid),
			slog.String("info_type", info), slog.String("error", err.Error()))
		return refuse(http.StatusServiceUnavailable, "sink_error", "event could not be delivered; push again")
	}
	return answer{status: http.StatusOK, outcome: "event_accepted"}
}

// decrypt opens enc with the current key, then the previous one. status
// is 0 on success, else 400 (malformed) or 403 (receive id mismatch).
func decrypt(p *Platform, enc string) ([]byte, int, string) {
	status, msg := http.StatusServiceUnavailable, "encoding_aes_key: not configured"
	for _, k := range []string{p.EncodingAESKey, p.PreviousEncodingAESKey} {
		if k == "" {
			continue
		}
		c, err := callback.NewCipher(k, p.AppID)
		if err != nil {
			return nil, http.StatusServiceUnavailable, "encoding_aes_key: invalid in the configuration"
		}
		plain, err := c.Decrypt(enc)
		if err == nil {
			return plain, 0, ""
		}
		if errors.Is(err, callback.ErrMalformed) {
			status, msg = http.StatusBadRequest, "Encrypt: "+strings.TrimPrefix(err.Error(), callback.ErrMalformed.Error()+": ")
		} else {
			status, msg = http.StatusForbidden, "Encrypt: receive id is not this platform"
		}
	}
	return nil, status, msg
}

// fresh reports whether timestamp is within the replay window.
func (h *Handler) fresh(timestamp string) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || ts <= 0 {
		return false
	}
	if h.o.MaxSkew < 0 {
		return true
	}
	d := h.o.Clock().Unix() - ts
	if d < 0 {
		d = -d
	}
	return d <= int64(h.o.MaxSkew/time.Second)
}

// pathAppID is the {component_appid} path value, or the last path segment
// when the handler is mounted without a pattern.
func pathAppID(r *http.Request) string {
	if v := r.PathValue("component_appid"); v != "" {
		return v
	}
	p := strings.TrimSuffix(r.URL.Path, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}
