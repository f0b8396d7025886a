package devstack

import (
	"time"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// startSimulator starts the WeChat simulator on a free loopback port with
// every app of the apps document and its secret; lifetime is the
// expires_in of new tokens (see TicketLifetime for tickets).
func startSimulator(apps *config.Apps, lifetime time.Duration) *wechattest.Server {
	sim := wechattest.NewServer(wechattest.WithTokenLifetime(lifetime), wechattest.WithTicketLifetime(TicketLifetime(lifetime)))
	for _, a := range apps.Apps {
		sim.AddApp(a.AppID, a.Secret)
	}
	return sim
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
