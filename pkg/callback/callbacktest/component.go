package callbacktest

import (
	"errors"
	"net/url"
	"strconv"

	"github.com/wxcentral/wxcentral/pkg/callback"
)

// ComponentEvent is one push to a third-party platform's
// authorization-event URL (/component/<component_appid>). Empty optional
// fields are left out of the XML.
type ComponentEvent struct {
	InfoType              string // component_verify_ticket, authorized, updateauthorized, unauthorized
	CreateTime            int64  // unix seconds
	ComponentVerifyTicket string // component_verify_ticket
	AuthorizerAppID       string // authorization events
	AuthorizationCode     string // authorized, updateauthorized
	// AuthorizationCodeExpiredTime is unix seconds; 0 leaves it out.
	AuthorizationCodeExpiredTime int64
	PreAuthCode                  string
}

// XML is the plaintext push for the platform componentAppID (its AppId).
func (e ComponentEvent) XML(componentAppID string) []byte {
	b := appendCDATA([]byte("<xml>"), "AppId", componentAppID)
	b = appendNumber(b, "CreateTime", e.CreateTime)
	b = appendCDATA(b, "InfoType", e.InfoType)
	for _, f := range []struct{ name, v string }{
		{"ComponentVerifyTicket", e.ComponentVerifyTicket}, {"AuthorizerAppid", e.AuthorizerAppID},
		{"AuthorizationCode", e.AuthorizationCode},
	} {
		if f.v != "" {
			b = appendCDATA(b, f.name, f.v)
		}
	}
	if e.AuthorizationCodeExpiredTime != 0 {
		b = appendNumber(b, "AuthorizationCodeExpiredTime", e.AuthorizationCodeExpiredTime)
	}
	if e.PreAuthCode != "" {
		b = appendCDATA(b, "PreAuthCode", e.PreAuthCode)
	}
	return append(b, "</xml>"...)
}

// SealComponent signs and encrypts e as WeChat pushes it to the platform
// of the callback document entry platform (type component): signature and
// msg_signature with its token, encrypted with its key for the component
// appid, in the envelope <xml><AppId/><Encrypt/></xml>.
func SealComponent(e ComponentEvent, platform callback.AppConfig, timestamp int64, nonce string, random [16]byte) (Request, error) {
	switch {
	case e.InfoType == "":
		return Request{}, errors.New("component push: InfoType: missing")
	case platform.AppID == "" || platform.Token == "":
		return Request{}, errors.New("component push: the platform's appid and token: missing")
	}
	c, err := callback.NewCipher(platform.EncodingAESKey, platform.AppID)
	if err != nil {
		return Request{}, err
	}
	enc := c.Encrypt(random, e.XML(platform.AppID))
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{"signature": {callback.Signature(platform.Token, ts, nonce)}, "timestamp": {ts}, "nonce": {nonce},
		"encrypt_type": {"aes"}, "msg_signature": {callback.MsgSignature(platform.Token, ts, nonce, enc)}}
	body := appendCDATA([]byte("<xml>"), "AppId", platform.AppID)
	body = appendCDATA(body, "Encrypt", enc)
	return Request{Query: q, Body: append(body, "</xml>"...), Timestamp: ts, Nonce: nonce}, nil
}
