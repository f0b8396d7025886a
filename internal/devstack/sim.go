package devstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// startSimulator starts the WeChat simulator on a free loopback port with
// every Official Account and mini-program of the apps document and its
// secret; lifetime is the expires_in of new tokens (see TicketLifetime for
// tickets).
func startSimulator(apps *config.Apps, lifetime time.Duration) *wechattest.Server {
	sim := wechattest.NewServer(simOptions(lifetime)...)
	for _, a := range apps.Apps {
		switch a.Type {
		case config.TypeOfficialAccount:
			sim.AddApp(a.AppID, a.Secret)
		case config.TypeMiniProgram:
			sim.AddMiniProgram(a.AppID, a.Secret)
		}
	}
	return sim
}

// startWeComSimulator starts the WeCom simulator with every WeCom app of
// the apps document and its secret.
func startWeComSimulator(apps *config.Apps, lifetime time.Duration) (*wechattest.WeComServer, error) {
	sim := wechattest.NewWeComServer(simOptions(lifetime)...)
	for _, a := range apps.Apps {
		if a.Type != config.TypeWeCom {
			continue
		}
		if err := sim.AddApp(a.CorpID, a.Agent, a.Secret); err != nil {
			sim.Close()
			return nil, fmt.Errorf("WeCom simulator: app %s: %w", a.ID(), err)
		}
	}
	return sim, nil
}

func simOptions(lifetime time.Duration) []wechattest.Option {
	return []wechattest.Option{wechattest.WithTokenLifetime(lifetime), wechattest.WithTicketLifetime(TicketLifetime(lifetime))}
}

// TicketLifetime is the simulator's ticket lifetime for a token lifetime.
// Tickets are due credential.TicketLead (10 min) before they expire, so a
// short lifetime gets that lead added: a ticket then lives as long after
// its refresh as a token does, instead of being fetched on every sweep.
func TicketLifetime(tokenLifetime time.Duration) time.Duration {
	if tokenLifetime < 2*credential.TicketLead {
		return tokenLifetime + credential.TicketLead
	}
	return tokenLifetime
}

// startComponentSimulator starts the third-party platform simulator with
// every platform of the apps document, its secret and the token and key of
// its callback document entry (which sign and encrypt its pushes). A
// platform without a callback entry is an error: its tickets could not
// reach the stack.
func startComponentSimulator(apps *config.Apps, cb *callback.Config, lifetime time.Duration) (*wechattest.ComponentServer, error) {
	sim := wechattest.NewComponentServer(simOptions(lifetime)...)
	for _, a := range apps.Apps {
		if a.Type != config.TypeComponent {
			continue
		}
		entry, ok := cb.App(a.AppID)
		if !ok || entry.Type != callback.TypeComponent {
			sim.Close()
			return nil, fmt.Errorf("platform simulator: platform %s has no component entry in the callback document", a.AppID)
		}
		if err := sim.AddPlatform(a.AppID, a.Secret, entry.Token, entry.EncodingAESKey); err != nil {
			sim.Close()
			return nil, fmt.Errorf("platform simulator: %w", err)
		}
	}
	return sim, nil
}

// hasPlatform reports whether the apps document has a third-party platform.
func hasPlatform(apps *config.Apps) bool {
	for _, a := range apps.Apps {
		if a.Type == config.TypeComponent {
			return true
		}
	}
	return false
}

// deliverTicketPushes posts every due ticket push of the platform
// simulator to the callback, as WeChat posts to the authorization-event
// URL; it returns how many were answered success.
func deliverTicketPushes(ctx context.Context, sim *wechattest.ComponentServer, h http.Handler, log *slog.Logger) int {
	n := 0
	for _, p := range sim.DueTicketPushes() {
		r, err := p.NewRequest("http://127.0.0.1")
		if err != nil {
			log.Error("platform simulator: ticket push", "error", err.Error())
			continue
		}
		w := &statusOnly{header: http.Header{}}
		h.ServeHTTP(w, r.WithContext(ctx))
		if w.status == 0 || w.status == http.StatusOK {
			n++
		} else {
			log.Warn("platform simulator: ticket push refused", "component_appid", p.ComponentAppID, "status", w.status)
		}
	}
	return n
}

// statusOnly is an http.ResponseWriter keeping only the status.
type statusOnly struct {
	header http.Header
	status int
}

func (w *statusOnly) Header() http.Header         { return w.header }
func (w *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (w *statusOnly) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}
