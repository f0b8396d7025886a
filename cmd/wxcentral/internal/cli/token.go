package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

var tokenCommand = &command{
	name:    "token",
	summary: "show the current credential of an app (masked unless --show)",
	usage:   "token [--appid ID] [--kind access_token|jsapi_ticket|wx_card_ticket] [--show] [--json] [--state FILE]",
	help: `
Reads the stored credential (a consistent read of the table) and prints its
version and expiry with the value masked. --show prints the value alone on
one line, for scripts: TOKEN=$(wxcentral token --show). An expired value,
or one within 10 s of expiry, is refused as the token function would.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		appid := fs.String("appid", "", "the app (default: the local stack's sample app, or the only app in the table)")
		kind := fs.String("kind", "access_token", "access_token, jsapi_ticket or wx_card_ticket")
		show := fs.Bool("show", false, "print the value itself (alone, for scripts)")
		asJSON := fs.Bool("json", false, "print the token function's JSON shape (value masked unless --show)")
		state := fs.String("state", "", "local stack state file (default: the one `wxcentral dev` writes)")
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			k, err := parseKindFlag(*kind)
			if err != nil {
				return err
			}
			b, err := openBackend(ctx, env, *state)
			if err != nil {
				return err
			}
			id := *appid
			if id == "" {
				if id, err = b.defaultAppID(ctx); err != nil {
					return err
				}
			}
			rec, err := b.store.Get(ctx, id, k, true)
			if errors.Is(err, credential.ErrNotFound) {
				return fmt.Errorf("no %s for %s in the %s (is the app configured, and has a sweep run?)", k, id, b.where)
			}
			if err != nil {
				return err
			}
			now := time.Now()
			if !rec.Credential.Usable(now) {
				return fmt.Errorf("%s/%s: %w: it expires at %s (version %d); run `wxcentral refresh`",
					id, k, credential.ErrUnavailable, rec.ExpiresAt.UTC().Format(time.RFC3339), rec.Version)
			}
			value := rec.Value
			if !*show {
				value = mask(value)
			}
			if *asJSON {
				ans := tokenapi.AnswerFor(rec.Credential, now)
				ans.AppID, ans.Token = id, value
				return writeJSON(env, ans)
			}
			if *show {
				_, err := fmt.Fprintln(env.Stdout, value)
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "appid       %s\nkind        %s\nvalue       %s   (--show prints it)\nversion     %d\nexpires in  %s (at %s)\nrefreshed   %s ago\n",
				id, k, value, rec.Version, human(rec.ExpiresAt.Sub(now)), rec.ExpiresAt.UTC().Format(time.RFC3339), human(now.Sub(rec.RefreshedAt)))
			return err
		}
	},
}

func parseKindFlag(s string) (credential.Kind, error) {
	k, err := credential.ParseKind(s)
	if err != nil {
		return "", usagef("--kind: %q is not one of access_token, jsapi_ticket, wx_card_ticket", s)
	}
	return k, nil
}

// mask keeps the first 4 characters of a value: enough to tell two values
// apart in a terminal, too little to use.
func mask(v string) string {
	const keep = 4
	if len(v) <= keep*2 {
		return fmt.Sprintf("****** (%d chars)", len(v))
	}
	return fmt.Sprintf("%s****** (%d chars)", v[:keep], len(v))
}
