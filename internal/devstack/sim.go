package devstack

import (
	"time"

	"github.com/wxcentral/wxcentral/pkg/config"
	"github.com/wxcentral/wxcentral/pkg/wechat/wechattest"
)

// startSimulator starts the WeChat simulator on a free loopback port with
// every app of the apps document and its secret; lifetime is the
// expires_in of new tokens and tickets.
func startSimulator(apps *config.Apps, lifetime time.Duration) *wechattest.Server {
	sim := wechattest.NewServer(wechattest.WithTokenLifetime(lifetime), wechattest.WithTicketLifetime(lifetime))
	for _, a := range apps.Apps {
		sim.AddApp(a.AppID, a.Secret)
	}
	return sim
}
