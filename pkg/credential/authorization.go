package credential

import "time"

// Authorization is an authorizer's grant to a third-party platform, as the
// refresh function keeps it in `auth#<component_appid>#<authorizer_appid>`:
// the refresh token that buys the authorizer's access tokens
// (api_authorizer_token). Only the refresh function reads or writes it.
type Authorization struct {
	ComponentAppID  string
	AuthorizerAppID string
	// RefreshToken is authorizer_refresh_token; never logged, never in an
	// error.
	RefreshToken string
	// AuthorizedAt is the CreateTime of the authorized/updateauthorized
	// event it came from (whole seconds): an older event never replaces it.
	AuthorizedAt time.Time
	// Version is +1 on every change of RefreshToken (a new authorisation
	// or a rotation); a rotation is written conditional on it.
	Version int64
}

// AuthorizationKey is the DynamoDB partition key of an authorization item.
func AuthorizationKey(componentAppID, authorizerAppID string) string {
	return "auth#" + componentAppID + "#" + authorizerAppID
}
