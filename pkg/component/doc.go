// Package component is the event intake of a WeChat Open Platform
// third-party platform (开放平台第三方平台): the http.Handler for
// `POST /component/{component_appid}`, the "授权事件接收URL" WeChat pushes
// to (docs/platform.md).
//
// Every push is checked like a safe-mode callback (signature, timestamp
// within the replay window, msg_signature over Encrypt) and decrypted with
// the platform's token and EncodingAESKey, whose receive id is the
// component appid. A component_verify_ticket (pushed every 10 minutes,
// valid 12 h) is stored through a TicketStore so that the newest CreateTime
// wins; authorized, updateauthorized, unauthorized and any other InfoType
// go to an EventSink: AuthorizationSink hands the authorization events to
// the refresh function (the only holder of refresh tokens) within what is
// left of the push's budget, PublisherSink puts every event on the
// EventBridge bus, Sinks chains them. The answer is `success`. Bad input is a 4xx naming what is wrong; a store or
// sink failure is a 503 so that WeChat pushes again.
package component
