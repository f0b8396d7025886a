package callback

import (
	"context"
	"regexp"
	"strings"
)

// MessageHandler handles one push and returns the passive reply (nil for
// none). An error makes WeChat retry the push: the dedupe claim is released
// and the push is answered 503.
type MessageHandler interface {
	ServeMessage(ctx context.Context, m *Message) (Reply, error)
}

// HandlerFunc adapts a function to MessageHandler.
type HandlerFunc func(ctx context.Context, m *Message) (Reply, error)

// ServeMessage calls f.
func (f HandlerFunc) ServeMessage(ctx context.Context, m *Message) (Reply, error) { return f(ctx, m) }

// Match selects pushes for a Mux route. Every non-empty condition must hold;
// an empty Match matches everything.
type Match struct {
	MsgType        string         // exact MsgType, e.g. MsgTypeText or MsgTypeEvent
	Event          string         // exact Event, e.g. EventSubscribe
	EventKey       string         // exact EventKey
	EventKeyPrefix string         // EventKey prefix, e.g. "qrscene_"
	Content        string         // exact Content of a text message
	ContentPrefix  string         // Content prefix
	ContentRegexp  *regexp.Regexp // Content matching this expression
}

func (c *Match) matches(m *Message) bool {
	return (c.MsgType == "" || m.MsgType == c.MsgType) &&
		(c.Event == "" || m.Event == c.Event) &&
		(c.EventKey == "" || m.EventKey == c.EventKey) &&
		(c.EventKeyPrefix == "" || strings.HasPrefix(m.EventKey, c.EventKeyPrefix)) &&
		(c.Content == "" || m.Content == c.Content) &&
		(c.ContentPrefix == "" || strings.HasPrefix(m.Content, c.ContentPrefix)) &&
		(c.ContentRegexp == nil || c.ContentRegexp.MatchString(m.Content))
}

// Mux routes pushes to handlers. Routes are tried in the order they were
// added and the first match wins. A Mux is itself a MessageHandler that
// answers no reply when nothing matches. Add routes before serving.
type Mux struct {
	routes []route
}

type route struct {
	match Match
	h     MessageHandler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{} }

// Handle adds a route.
func (x *Mux) Handle(match Match, h MessageHandler) {
	x.routes = append(x.routes, route{match: match, h: h})
}

// HandleFunc adds a route to a function.
func (x *Mux) HandleFunc(match Match, f func(ctx context.Context, m *Message) (Reply, error)) {
	x.Handle(match, HandlerFunc(f))
}

// Lookup returns the handler of the first route matching m, or nil.
func (x *Mux) Lookup(m *Message) MessageHandler {
	for i := range x.routes {
		if x.routes[i].match.matches(m) {
			return x.routes[i].h
		}
	}
	return nil
}

// ServeMessage runs the first matching route's handler.
func (x *Mux) ServeMessage(ctx context.Context, m *Message) (Reply, error) {
	if h := x.Lookup(m); h != nil {
		return h.ServeMessage(ctx, m)
	}
	return nil, nil
}

// reply returns a handler that always answers r.
func replyWith(r Reply) MessageHandler {
	return HandlerFunc(func(context.Context, *Message) (Reply, error) { return r, nil })
}
