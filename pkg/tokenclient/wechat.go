package tokenclient

import (
	"context"
	"net/url"

	"github.com/wxcentral/wxcentral/pkg/wechat"
)

// Call makes an authenticated WeChat API call for appid (see
// wechat.Client.Call): method to path with the app's access_token, body
// sent as JSON when not nil, the answer decoded into out, a non-zero
// errcode returned as *wechat.Error. A rejected token is invalidated and
// the call retried once (Do).
func (c *Client) Call(ctx context.Context, appid, method, path string, query url.Values, body, out any) error {
	return c.Do(ctx, appid, func(token string) error {
		return c.wc.Call(ctx, method, path, token, query, body, out)
	})
}

// SendCustomMessage sends a customer-service message from appid (the way
// to answer a callback asynchronously).
func (c *Client) SendCustomMessage(ctx context.Context, appid string, msg wechat.CustomMessage) error {
	return c.Do(ctx, appid, func(token string) error {
		return c.wc.SendCustomMessage(ctx, token, msg)
	})
}

// UserInfo reads the profile of follower openid of appid; lang is "zh_CN",
// "zh_TW", "en" or empty.
func (c *Client) UserInfo(ctx context.Context, appid, openid, lang string) (wechat.UserInfo, error) {
	var u wechat.UserInfo
	err := c.Do(ctx, appid, func(token string) error {
		var err error
		u, err = c.wc.UserInfo(ctx, token, openid, lang)
		return err
	})
	return u, err
}
