package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
	"github.com/wxcentral/wxcentral/pkg/refresh"
	"github.com/wxcentral/wxcentral/pkg/tokenapi"
)

var refreshCommand = &command{
	name:    "refresh",
	summary: "run a sweep now, or a forced refresh of one credential (--force)",
	usage:   "refresh [--force] [--appid ID] [--kind KIND] [--json] [--state FILE]",
	help: `
Without --force, asks the refresh function for a sweep ({"action":"sweep"})
and prints each credential's outcome: fresh, refreshed, unchanged, leased or
failed.

With --force, reports the stored value as rejected ({"action":"force",
"stale_token":<the stored value>}), the way a service reports a 40001: the
refresh function probes stable_token in normal mode and spends one of the
day's forced refreshes only when WeChat still returns the same token.

AWS: invokes REFRESH_FUNCTION_NAME. Local stack: POSTs the same payload to
its /dev/refresh route.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		force := fs.Bool("force", false, "forced refresh of one credential instead of a sweep")
		appid := fs.String("appid", "", "with --force: the app (default: the local stack's sample app, or the only app in the table)")
		kind := fs.String("kind", "access_token", "with --force: access_token, jsapi_ticket or wx_card_ticket")
		asJSON := fs.Bool("json", false, "print the refresh function's JSON answer")
		state := fs.String("state", "", "local stack state file (default: the one `wxcentral dev` writes)")
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			k, err := parseKindFlag(*kind)
			if err != nil {
				return err
			}
			if !*force && (*appid != "" || k != credential.AccessToken) {
				return usagef("--appid and --kind apply to --force only (a sweep covers every app and kind)")
			}
			b, err := openBackend(ctx, env, *state)
			if err != nil {
				return err
			}
			if *force {
				return forceRefresh(ctx, env, b, *appid, k, *asJSON)
			}
			return sweep(ctx, env, b, *asJSON)
		}
	},
}

func sweep(ctx context.Context, env Env, b *backend, asJSON bool) error {
	out, err := b.invoke(ctx, []byte(`{"action":"sweep"}`))
	if err != nil {
		return err
	}
	var sum refresh.Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		return fmt.Errorf("sweep answer: not the {\"results\":[…]} JSON")
	}
	if asJSON {
		return writeJSON(env, sum)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPID\tKIND\tOUTCOME\tVERSION\tEXPIRES IN\tERROR")
	failed := 0
	for _, r := range sum.Results {
		expires, errText := "-", "-"
		if r.ExpiresAt != 0 {
			expires = human(time.Unix(r.ExpiresAt, 0).Sub(now))
		}
		if r.Error != "" {
			errText = r.Error
		}
		if r.Outcome == refresh.OutcomeFailed {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.AppID, r.Kind, r.Outcome, r.Version, expires, errText)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d credentials failed to refresh", failed, len(sum.Results))
	}
	return nil
}

func forceRefresh(ctx context.Context, env Env, b *backend, appid string, kind credential.Kind, asJSON bool) error {
	if appid == "" {
		var err error
		if appid, err = b.defaultAppID(ctx); err != nil {
			return err
		}
	}
	// The stored value is the one reported as rejected. With none stored
	// the refresh function fetches one.
	stale := ""
	before, err := b.store.Get(ctx, appid, kind, true)
	switch {
	case err == nil:
		stale = before.Value
	case !errors.Is(err, credential.ErrNotFound):
		return err
	}
	payload, err := json.Marshal(tokenapi.NewForceRequest(appid, kind, stale))
	if err != nil {
		return err
	}
	out, err := b.invoke(ctx, payload)
	if err != nil {
		return err
	}
	var ans tokenapi.Answer
	if err := json.Unmarshal(out, &ans); err != nil {
		return fmt.Errorf("force answer: not JSON")
	}
	if ans.Error != "" {
		return fmt.Errorf("forced refresh of %s/%s refused: %s: %s", appid, kind, ans.Error, ans.Message)
	}
	if asJSON {
		ans.Token = mask(ans.Token)
		return writeJSON(env, ans)
	}
	change := "a new value"
	if ans.Token == stale {
		change = "the same value (WeChat kept it)"
	}
	_, err = fmt.Fprintf(env.Stdout, "forced refresh of %s/%s: version %d -> %d, %s, expires in %s\n",
		appid, kind, before.Version, ans.Version, change, human(time.Duration(ans.ExpiresIn)*time.Second))
	return err
}

func writeJSON(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
