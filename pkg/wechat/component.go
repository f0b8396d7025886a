package wechat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// Third-party platform (开放平台第三方平台) errcodes, from the Open Platform
// documentation of api_component_token and api_authorizer_token.
const (
	// CodeComponentTicketExpired: the component_verify_ticket sent is older
	// than its 12 h life; only a newer push (api_start_push_ticket) helps.
	CodeComponentTicketExpired = 61005
	// CodeComponentTicketInvalid: the ticket is not one WeChat pushed.
	CodeComponentTicketInvalid = 61006
	// CodeRefreshTokenInvalid ("refresh_token is invalid") answers
	// api_authorizer_token for a refresh token that was rotated out, revoked
	// by a re-authorisation, or never issued. Retrying with the same value
	// cannot succeed: either a newer stored refresh token is used, or the
	// authorizer's admin must authorise the platform again.
	CodeRefreshTokenInvalid = 61023
)

// IsReauthorizationRequired reports whether err is 61023 from
// api_authorizer_token: the refresh token sent is dead. Its class is
// ClassConfiguration (alarm, stop retrying that value); a caller that holds
// a newer refresh token than the one it sent retries with that one, and
// otherwise the authorizer must authorise the platform again.
func IsReauthorizationRequired(err error) bool {
	return ErrorCode(err) == CodeRefreshTokenInvalid
}

// AuthorizationInfo is the authorization_info of api_query_auth: what an
// authorization code was exchanged for.
type AuthorizationInfo struct {
	AuthorizerAppID string // authorizer_appid
	// AccessToken is authorizer_access_token and expires_in. WeChat omits
	// both when the authorizer granted no API permission; then it is zero.
	AccessToken Token
	// RefreshToken is authorizer_refresh_token: the only way to get the
	// authorizer's next access token without a new authorisation. Store it
	// before anything else; it may be empty when no API permission was
	// granted.
	RefreshToken string
	// FuncScopes are the funcscope_category ids of func_info: the
	// permission sets the authorizer granted (it may grant fewer than asked).
	FuncScopes []int
}

// AuthorizerToken is the answer of api_authorizer_token.
type AuthorizerToken struct {
	AccessToken Token // authorizer_access_token, expires_in
	// RefreshToken is the refresh token to use next time: the
	// authorizer_refresh_token WeChat returned, or the one sent when the
	// answer carried none.
	RefreshToken string
	// Rotated is true when WeChat returned a refresh token different from
	// the one sent. The old one then dies (after a short overlap), so the
	// new one must be committed together with the access token.
	Rotated bool
}

// ComponentToken calls POST /cgi-bin/component/api_component_token with the
// platform's appid and AppSecret and the newest component_verify_ticket
// WeChat pushed (valid 12 h). It returns component_access_token and the
// expires_in WeChat sent. 40001 and 40125 here mean a wrong AppSecret
// (ClassConfiguration); 61005/61006 a stale or unknown ticket. The call is
// retried on the backup base only when it never left this process.
func (c *Client) ComponentToken(ctx context.Context, componentAppID, componentSecret, verifyTicket string) (Token, error) {
	const op = "api_component_token"
	switch {
	case componentAppID == "":
		return Token{}, errors.New("wechat: api_component_token: component_appid is empty")
	case componentSecret == "":
		return Token{}, fmt.Errorf("wechat: api_component_token: component_appsecret for %s is empty", componentAppID)
	case verifyTicket == "":
		return Token{}, fmt.Errorf("wechat: api_component_token: component_verify_ticket for %s is empty", componentAppID)
	}
	body, err := marshalJSON(struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_appsecret"`
		Ticket string `json:"component_verify_ticket"`
	}{componentAppID, componentSecret, verifyTicket})
	if err != nil {
		return Token{}, fmt.Errorf("wechat: %s: encode request: %w", op, err)
	}
	var resp struct {
		Token     string `json:"component_access_token"`
		ExpiresIn int64  `json:"expires_in"`
	}
	err = c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/cgi-bin/component/api_component_token",
		body: body, secret: componentSecret,
	}, &resp)
	if err != nil {
		return Token{}, err
	}
	if resp.Token == "" {
		return Token{}, &ProtocolError{API: op, Reason: "response for " + componentAppID + " has no component_access_token"}
	}
	life, err := checkExpiresIn(op, resp.ExpiresIn)
	if err != nil {
		return Token{}, err
	}
	return Token{AccessToken: resp.Token, ExpiresIn: life, ReceivedAt: c.now()}, nil
}

// StartPushTicket calls POST /cgi-bin/component/api_start_push_ticket: it
// asks WeChat to resume the component_verify_ticket pushes (every 10
// minutes) when none arrived for a while. It sends the AppSecret, so 40001
// and 40125 mean a wrong secret.
func (c *Client) StartPushTicket(ctx context.Context, componentAppID, componentSecret string) error {
	const op = "api_start_push_ticket"
	switch {
	case componentAppID == "":
		return errors.New("wechat: api_start_push_ticket: component_appid is empty")
	case componentSecret == "":
		return fmt.Errorf("wechat: api_start_push_ticket: component_secret for %s is empty", componentAppID)
	}
	body, err := marshalJSON(struct {
		AppID  string `json:"component_appid"`
		Secret string `json:"component_secret"`
	}{componentAppID, componentSecret})
	if err != nil {
		return fmt.Errorf("wechat: %s: encode request: %w", op, err)
	}
	// Asking twice is harmless: WeChat answers "in a normal state".
	return c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/cgi-bin/component/api_start_push_ticket",
		body: body, idempotent: true, secret: componentSecret,
	}, nil)
}

// QueryAuth calls POST /cgi-bin/component/api_query_auth: it exchanges the
// authorization_code of an authorized/updateauthorized event (or of the
// authorisation redirect) for the authorizer's tokens. A code is single-use,
// so the call is retried on the backup base only when it never left this
// process.
func (c *Client) QueryAuth(ctx context.Context, componentAccessToken, componentAppID, authorizationCode string) (AuthorizationInfo, error) {
	const op = "api_query_auth"
	switch {
	case componentAccessToken == "":
		return AuthorizationInfo{}, errors.New("wechat: api_query_auth: component_access_token is empty")
	case componentAppID == "":
		return AuthorizationInfo{}, errors.New("wechat: api_query_auth: component_appid is empty")
	case authorizationCode == "":
		return AuthorizationInfo{}, fmt.Errorf("wechat: api_query_auth: authorization_code for %s is empty", componentAppID)
	}
	body, err := marshalJSON(struct {
		AppID string `json:"component_appid"`
		Code  string `json:"authorization_code"`
	}{componentAppID, authorizationCode})
	if err != nil {
		return AuthorizationInfo{}, fmt.Errorf("wechat: %s: encode request: %w", op, err)
	}
	var resp struct {
		Info struct {
			AppID        string `json:"authorizer_appid"`
			AccessToken  string `json:"authorizer_access_token"`
			ExpiresIn    int64  `json:"expires_in"`
			RefreshToken string `json:"authorizer_refresh_token"`
			FuncInfo     []struct {
				Category struct {
					ID int `json:"id"`
				} `json:"funcscope_category"`
			} `json:"func_info"`
		} `json:"authorization_info"`
	}
	err = c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/cgi-bin/component/api_query_auth",
		query: url.Values{"component_access_token": {componentAccessToken}},
		body:  body, secret: componentAccessToken,
	}, &resp)
	if err != nil {
		return AuthorizationInfo{}, err
	}
	in := resp.Info
	if in.AppID == "" {
		return AuthorizationInfo{}, &ProtocolError{API: op, Reason: "response has no authorization_info.authorizer_appid"}
	}
	info := AuthorizationInfo{AuthorizerAppID: in.AppID, RefreshToken: in.RefreshToken}
	if in.AccessToken != "" {
		life, err := checkExpiresIn(op, in.ExpiresIn)
		if err != nil {
			return AuthorizationInfo{}, err
		}
		info.AccessToken = Token{AccessToken: in.AccessToken, ExpiresIn: life, ReceivedAt: c.now()}
	}
	for _, f := range in.FuncInfo {
		info.FuncScopes = append(info.FuncScopes, f.Category.ID)
	}
	return info, nil
}

// AuthorizerToken calls POST /cgi-bin/component/api_authorizer_token: a new
// authorizer_access_token for authorizerAppID from its refresh token. WeChat
// may rotate the refresh token (Rotated); 61023 means the one sent is dead
// (IsReauthorizationRequired). Because a rotation must not happen twice
// unseen, the call is retried on the backup base only when it never left
// this process.
func (c *Client) AuthorizerToken(ctx context.Context, componentAccessToken, componentAppID, authorizerAppID, refreshToken string) (AuthorizerToken, error) {
	const op = "api_authorizer_token"
	switch {
	case componentAccessToken == "":
		return AuthorizerToken{}, errors.New("wechat: api_authorizer_token: component_access_token is empty")
	case componentAppID == "":
		return AuthorizerToken{}, errors.New("wechat: api_authorizer_token: component_appid is empty")
	case authorizerAppID == "":
		return AuthorizerToken{}, fmt.Errorf("wechat: api_authorizer_token: authorizer_appid for %s is empty", componentAppID)
	case refreshToken == "":
		return AuthorizerToken{}, fmt.Errorf("wechat: api_authorizer_token: authorizer_refresh_token for %s is empty", authorizerAppID)
	}
	body, err := marshalJSON(struct {
		AppID        string `json:"component_appid"`
		Authorizer   string `json:"authorizer_appid"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}{componentAppID, authorizerAppID, refreshToken})
	if err != nil {
		return AuthorizerToken{}, fmt.Errorf("wechat: %s: encode request: %w", op, err)
	}
	var resp struct {
		AccessToken  string `json:"authorizer_access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"authorizer_refresh_token"`
	}
	err = c.do(ctx, request{
		op: op, method: http.MethodPost, path: "/cgi-bin/component/api_authorizer_token",
		query: url.Values{"component_access_token": {componentAccessToken}},
		body:  body, secret: componentAccessToken,
	}, &resp)
	if err != nil {
		return AuthorizerToken{}, err
	}
	if resp.AccessToken == "" {
		return AuthorizerToken{}, &ProtocolError{API: op, Reason: "response for " + authorizerAppID + " has no authorizer_access_token"}
	}
	life, err := checkExpiresIn(op, resp.ExpiresIn)
	if err != nil {
		return AuthorizerToken{}, err
	}
	at := AuthorizerToken{
		AccessToken:  Token{AccessToken: resp.AccessToken, ExpiresIn: life, ReceivedAt: c.now()},
		RefreshToken: refreshToken,
	}
	if resp.RefreshToken != "" && resp.RefreshToken != refreshToken {
		at.RefreshToken, at.Rotated = resp.RefreshToken, true
	}
	return at, nil
}
