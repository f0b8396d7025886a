package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/wxcentral/wxcentral/internal/devstack"
	"github.com/wxcentral/wxcentral/pkg/callback"
	"github.com/wxcentral/wxcentral/pkg/callback/callbacktest"
)

var sendCommand = &command{
	name:    "send",
	summary: "act as WeChat: push a signed, encrypted message to a callback URL and print the reply",
	usage:   "send (--text TEXT | --event EVENT [--event-key KEY] | --ticket TICKET | --authorized AUTHORIZER [--code CODE] | --unauthorized AUTHORIZER) [--url URL] [--appid ID] [--platform COMPONENT_APPID] [--config FILE] [--from OPENID] [--to GH_ID] [--verbose]",
	help: `
Builds the push WeChat would send for a text message or an event, signs it
(signature; msg_signature over Encrypt) and encrypts it with the app's Token
and EncodingAESKey from the callback document, in the app's mode (safe,
compat or plain), POSTs it to the callback URL, checks and decrypts the
reply and prints its content: "pong" for --text ping with the sample
configuration, "(no reply)" for "success".

The app's type in the callback document decides the rest: a WeCom app
(--appid <corpid>:<agent>) gets WeCom's push (encrypted for the corpid,
msg_signature only, ToUserName the corpid, its AgentID) and its encrypted
reply is opened; a mini-program with data_format json gets the JSON push
and must answer "success" (mini-programs take no passive reply).

A third-party platform (a component entry of the callback document) gets
pushes to its authorization-event URL /component/<component_appid>:
--ticket pushes a component_verify_ticket, --authorized an authorized event
carrying --code (default: a made-up code, which the refresh function's
exchange with WeChat refuses unless the simulator issued it), --unauthorized
an unauthorized event; each must answer "success". --platform
<component_appid> with --appid <authorizer_appid> sends --text or --event as
an authorizer's message at /wechat/<authorizer_appid>, sealed with the
platform's token and key.

Defaults come from the running local stack: its callback URL, sample app
and callback document (examples/local/callback.json). Against a deployed
stack pass --url and --config with that account's callback document.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		text := fs.String("text", "", "send a text message with this Content")
		event := fs.String("event", "", "send an event instead (subscribe, unsubscribe, CLICK, SCAN, …)")
		eventKey := fs.String("event-key", "", "the event's EventKey")
		ticket := fs.String("ticket", "", "push a component_verify_ticket with this value to a platform")
		authorized := fs.String("authorized", "", "push an authorized event for this authorizer appid to a platform")
		unauthorized := fs.String("unauthorized", "", "push an unauthorized event for this authorizer appid to a platform")
		code := fs.String("code", "", "the authorization code of --authorized")
		platform := fs.String("platform", "", "send --text/--event as a message of the authorizer --appid through this platform")
		endpoint := fs.String("url", "", "callback URL (default: the local stack's /wechat/<appid>)")
		appid := fs.String("appid", "", "the app: an appid, or <corpid>:<agent> for a WeCom app (default: the local stack's sample app, or the document's only app)")
		cfgPath := fs.String("config", "", "callback document with the app's token and encoding_aes_key (default: the local stack's)")
		from := fs.String("from", "o_wxcentral_cli_user", "FromUserName: the sender's openid")
		to := fs.String("to", "", "ToUserName: the account's original id (default gh_wxcentral00, or the corpid of a WeCom app)")
		timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the reply")
		verbose := fs.Bool("verbose", false, "also print the plaintext push and reply XML")
		state := fs.String("state", "", "local stack state file (default: the one `wxcentral dev` writes)")
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			n := 0
			for _, v := range []string{*text, *event, *ticket, *authorized, *unauthorized} {
				if v != "" {
					n++
				}
			}
			if n != 1 {
				return usagef("exactly one of --text, --event, --ticket, --authorized and --unauthorized is required")
			}
			if *code != "" && *authorized == "" {
				return usagef("--code needs --authorized")
			}
			isComponent := *ticket != "" || *authorized != "" || *unauthorized != ""
			if *platform != "" && (isComponent || *appid == "") {
				return usagef("--platform needs --appid <authorizer_appid> and --text or --event")
			}
			if *eventKey != "" && *event == "" {
				return usagef("--event-key needs --event")
			}
			if *timeout <= 0 {
				return usagef("--timeout: must be positive")
			}
			if isComponent {
				e := callbacktest.ComponentEvent{CreateTime: time.Now().Unix()}
				switch {
				case *ticket != "":
					e.InfoType, e.ComponentVerifyTicket = "component_verify_ticket", *ticket
				case *authorized != "":
					e.InfoType, e.AuthorizerAppID, e.AuthorizationCode = "authorized", *authorized, *code
					if e.AuthorizationCode == "" {
						e.AuthorizationCode = "queryauthcode@@@wxcentral-cli-" + callbacktest.Nonce()
					}
					e.AuthorizationCodeExpiredTime = e.CreateTime + 3600
				default:
					e.InfoType, e.AuthorizerAppID = "unauthorized", *unauthorized
				}
				return sendComponent(ctx, env, e, *endpoint, *appid, *cfgPath, *state, *timeout, *verbose)
			}
			var t sendTarget
			var err error
			if *platform != "" {
				t, err = resolveAuthorizerTarget(env, *endpoint, *appid, *platform, *cfgPath, *state)
			} else {
				t, err = resolveSendTarget(env, *endpoint, *appid, *cfgPath, *state)
			}
			if err != nil {
				return err
			}
			now := time.Now()
			toUser := *to
			if toUser == "" {
				toUser = "gh_wxcentral00"
				if t.account.Type == callback.TypeWeCom {
					toUser = t.account.CorpID
				}
			}
			var p callbacktest.Push
			if *text != "" {
				p = callbacktest.Text(toUser, *from, *text, now.Unix(), now.UnixNano()/1000)
			} else {
				p = callbacktest.Event(toUser, *from, *event, *eventKey, now.Unix())
			}
			if t.account.Type == callback.TypeWeCom {
				p.AgentID = t.account.Agent
			}
			if *verbose {
				fmt.Fprintf(env.Stderr, "-> POST %s (%s mode)\n%s\n", t.url, modeName(t.account.Mode), p.Document(t.account))
			}
			ctx, cancel := context.WithTimeout(ctx, *timeout)
			defer cancel()
			reply, err := sendPush(ctx, &http.Client{}, t, p, now)
			if err != nil {
				return err
			}
			if *verbose && reply.Message != nil {
				fmt.Fprintf(env.Stderr, "<- reply (encrypted: %v)\n%s\n", reply.Encrypted, reply.Message.Raw)
			}
			_, err = fmt.Fprintln(env.Stdout, reply.Text())
			return err
		}
	},
}

// sendTarget is where and as whom `send` pushes.
type sendTarget struct {
	url     string
	account callback.AppConfig
}

// resolveSendTarget fills the URL, app and callback document from the flags,
// then from the local stack's state file, then from the sample document.
func resolveSendTarget(env Env, endpoint, appid, cfgPath, statePath string) (sendTarget, error) {
	d, err := loadSendConfig(env, endpoint, appid, cfgPath, statePath)
	if err != nil {
		return sendTarget{}, err
	}
	if appid == "" {
		switch {
		case d.stateErr == nil && d.st.AppID != "":
			appid = d.st.AppID
		case len(d.cfg.Apps) == 1, d.sample:
			// The sample's first app is the Official Account the stack's
			// state would name.
			appid = d.cfg.Apps[0].ID()
		default:
			return sendTarget{}, usagef("--appid: required (%s configures %d apps)", d.path, len(d.cfg.Apps))
		}
	}
	app, ok := d.cfg.App(appid)
	if !ok {
		return sendTarget{}, fmt.Errorf("--appid %s: not in the callback document %s", appid, d.path)
	}
	if endpoint == "" {
		if d.stateErr != nil {
			if errors.Is(d.stateErr, devstack.ErrNoState) {
				return sendTarget{}, usagef("--url: required when no local stack is running (%v)", d.stateErr)
			}
			return sendTarget{}, d.stateErr
		}
		endpoint = d.st.CallbackURL(appid)
	}
	return sendTarget{url: endpoint, account: *app}, nil
}

// sendConfig is the callback document send uses and the local stack's state.
type sendConfig struct {
	cfg      *callback.Config
	path     string
	sample   bool // path is the committed sample document
	st       devstack.State
	stateErr error
}

// loadSendConfig reads --config, else the local stack's document, else the
// sample; the state file is read when a flag needs it.
func loadSendConfig(env Env, endpoint, appid, cfgPath, statePath string) (sendConfig, error) {
	var d sendConfig
	if endpoint == "" || cfgPath == "" || appid == "" {
		d.st, d.stateErr = devstack.ReadState(stateFile(env, statePath))
	}
	if cfgPath == "" {
		d.sample = d.stateErr != nil || d.st.CallbackFile == ""
		switch {
		case d.stateErr == nil && d.st.CallbackFile != "":
			cfgPath = d.st.CallbackFile
		default:
			cfgPath = devstack.DefaultCallbackFile
			if root, ok := devstack.RepoRoot(); ok {
				cfgPath = filepath.Join(root, devstack.DefaultCallbackFile)
			}
		}
	}
	d.path = cfgPath
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return d, fmt.Errorf("--config: %w", err)
	}
	if d.cfg, err = callback.ParseConfig(data); err != nil {
		return d, fmt.Errorf("--config %s: %w", cfgPath, err)
	}
	return d, nil
}

// sendComponent pushes e to a platform's authorization-event URL and
// prints the answer ("success" is "(no reply)").
func sendComponent(ctx context.Context, env Env, e callbacktest.ComponentEvent, endpoint, appid, cfgPath, statePath string, timeout time.Duration, verbose bool) error {
	t, err := resolveComponentTarget(env, endpoint, appid, cfgPath, statePath)
	if err != nil {
		return err
	}
	if verbose {
		// The plaintext without the code: a real one buys a refresh token.
		shown := e
		if shown.AuthorizationCode != "" {
			shown.AuthorizationCode = "…"
		}
		fmt.Fprintf(env.Stderr, "-> POST %s\n%s\n", t.url, shown.XML(t.account.AppID))
	}
	req, err := callbacktest.SealComponent(e, t.account, time.Now().Unix(), callbacktest.Nonce(), callbacktest.Random())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reply, err := callbacktest.Send(ctx, &http.Client{}, t.url, t.account, req)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(env.Stdout, reply.Text())
	return err
}

// resolveComponentTarget is resolveSendTarget for a platform: --appid, or
// the document's first component entry; the URL /component/<appid>.
func resolveComponentTarget(env Env, endpoint, appid, cfgPath, statePath string) (sendTarget, error) {
	if appid == "" {
		d, err := loadSendConfig(env, "-", "", cfgPath, statePath)
		if err != nil {
			return sendTarget{}, err
		}
		for _, a := range d.cfg.Apps {
			if a.Type == callback.TypeComponent {
				appid = a.AppID
				break
			}
		}
		if appid == "" {
			return sendTarget{}, usagef("--appid: the callback document has no component entry")
		}
	}
	t, err := resolveSendTarget(env, "-", appid, cfgPath, statePath)
	if err != nil {
		return sendTarget{}, err
	}
	if t.account.Type != callback.TypeComponent {
		return sendTarget{}, usagef("--appid %s: not a component entry of the callback document", appid)
	}
	if endpoint == "" {
		st, err := devstack.ReadState(stateFile(env, statePath))
		if err != nil {
			return sendTarget{}, usagef("--url: required when no local stack is running (%v)", err)
		}
		endpoint = st.URL + "/component/" + appid
	}
	t.url = endpoint
	return t, nil
}

// resolveAuthorizerTarget seals as the platform for an authorizer's route.
func resolveAuthorizerTarget(env Env, endpoint, authorizer, platform, cfgPath, statePath string) (sendTarget, error) {
	t, err := resolveSendTarget(env, "-", platform, cfgPath, statePath)
	if err != nil {
		return sendTarget{}, err
	}
	if t.account.Type != callback.TypeComponent {
		return sendTarget{}, usagef("--platform %s: not a component entry of the callback document", platform)
	}
	if endpoint == "" {
		st, err := devstack.ReadState(stateFile(env, statePath))
		if err != nil {
			return sendTarget{}, usagef("--url: required when no local stack is running (%v)", err)
		}
		endpoint = st.CallbackURL(authorizer)
	}
	t.url = endpoint
	return t, nil
}

func stateFile(env Env, statePath string) string {
	if statePath == "" {
		return devstack.StatePath(env.Getenv)
	}
	return statePath
}

// sendPush seals p for t's account at now and posts it.
func sendPush(ctx context.Context, hc *http.Client, t sendTarget, p callbacktest.Push, now time.Time) (callbacktest.Reply, error) {
	req, err := callbacktest.Seal(p, t.account, now.Unix(), callbacktest.Nonce(), callbacktest.Random())
	if err != nil {
		return callbacktest.Reply{}, err
	}
	return callbacktest.Send(ctx, hc, t.url, t.account, req)
}

func modeName(m callback.Mode) string {
	if m == "" {
		return string(callback.ModeSafe)
	}
	return string(m)
}
