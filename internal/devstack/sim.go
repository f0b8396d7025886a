package devstack

import (
	"fmt"
	"time"

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
