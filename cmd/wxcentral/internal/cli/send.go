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
	usage:   "send (--text TEXT | --event EVENT [--event-key KEY]) [--url URL] [--appid ID] [--config FILE] [--from OPENID] [--to GH_ID] [--verbose]",
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

Defaults come from the running local stack: its callback URL, sample app
and callback document (examples/local/callback.json). Against a deployed
stack pass --url and --config with that account's callback document.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		text := fs.String("text", "", "send a text message with this Content")
		event := fs.String("event", "", "send an event instead (subscribe, unsubscribe, CLICK, SCAN, …)")
		eventKey := fs.String("event-key", "", "the event's EventKey")
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
			if (*text == "") == (*event == "") {
				return usagef("exactly one of --text and --event is required")
			}
			if *eventKey != "" && *event == "" {
				return usagef("--event-key needs --event")
			}
			if *timeout <= 0 {
				return usagef("--timeout: must be positive")
			}
			t, err := resolveSendTarget(env, *endpoint, *appid, *cfgPath, *state)
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
	var st devstack.State
	var stateErr error
	if endpoint == "" || cfgPath == "" || appid == "" {
		if statePath == "" {
			statePath = devstack.StatePath(env.Getenv)
		}
		st, stateErr = devstack.ReadState(statePath)
	}
	sample := false // cfgPath is the committed sample document
	if cfgPath == "" {
		sample = stateErr != nil || st.CallbackFile == ""
		switch {
		case stateErr == nil && st.CallbackFile != "":
			cfgPath = st.CallbackFile
		default:
			cfgPath = devstack.DefaultCallbackFile
			if root, ok := devstack.RepoRoot(); ok {
				cfgPath = filepath.Join(root, devstack.DefaultCallbackFile)
			}
		}
	}
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return sendTarget{}, fmt.Errorf("--config: %w", err)
	}
	cfg, err := callback.ParseConfig(data)
	if err != nil {
		return sendTarget{}, fmt.Errorf("--config %s: %w", cfgPath, err)
	}
	if appid == "" {
		switch {
		case stateErr == nil && st.AppID != "":
			appid = st.AppID
		case len(cfg.Apps) == 1, sample:
			// The sample's first app is the Official Account the stack's
			// state would name.
			appid = cfg.Apps[0].ID()
		default:
			return sendTarget{}, usagef("--appid: required (%s configures %d apps)", cfgPath, len(cfg.Apps))
		}
	}
	app, ok := cfg.App(appid)
	if !ok {
		return sendTarget{}, fmt.Errorf("--appid %s: not in the callback document %s", appid, cfgPath)
	}
	if endpoint == "" {
		if stateErr != nil {
			if errors.Is(stateErr, devstack.ErrNoState) {
				return sendTarget{}, usagef("--url: required when no local stack is running (%v)", stateErr)
			}
			return sendTarget{}, stateErr
		}
		endpoint = st.CallbackURL(appid)
	}
	return sendTarget{url: endpoint, account: *app}, nil
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
