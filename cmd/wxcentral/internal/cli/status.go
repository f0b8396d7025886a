package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wxcentral/wxcentral/pkg/credential"
)

var statusCommand = &command{
	name:    "status",
	summary: "list every credential: version, age, expiry, last error, forced refreshes today",
	usage:   "status [--json] [--state FILE]",
	help: `
Lists every credential item in the table, one row per app and kind: its
version, how long ago it was fetched, how long until WeChat stops accepting
it, whether a refresher holds its lease, the last upstream error, and how
many forced refreshes were spent today (Asia/Shanghai day) out of the daily
limit. Values are never printed.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
		state := fs.String("state", "", "local stack state file (default: the one `wxcentral dev` writes)")
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			b, err := openBackend(ctx, env, *state)
			if err != nil {
				return err
			}
			recs, err := b.store.List(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			rows := statusRows(recs, b.forceLimit, now)
			if *asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			if len(rows) == 0 {
				fmt.Fprintf(env.Stdout, "no credentials in the %s yet (the refresh function writes them on its next sweep)\n", b.where)
				return nil
			}
			return writeStatusTable(env.Stdout, rows, now)
		}
	},
}

// statusRow is one credential as `status` shows it (never its value).
type statusRow struct {
	AppID            string          `json:"appid"`
	Kind             credential.Kind `json:"kind"`
	Version          int64           `json:"version"`
	RefreshedAt      int64           `json:"refreshed_at,omitempty"`
	AgeSeconds       int64           `json:"age_seconds"`
	ExpiresAt        int64           `json:"expires_at,omitempty"`
	ExpiresInSeconds int64           `json:"expires_in_seconds"` // negative once expired
	Usable           bool            `json:"usable"`
	Leased           bool            `json:"leased"`
	LastErrorCode    int             `json:"last_error_code,omitempty"`
	LastError        string          `json:"last_error,omitempty"`
	LastErrorAt      int64           `json:"last_error_at,omitempty"`
	ForceUsedToday   int             `json:"force_used_today"`
	ForceDailyLimit  int             `json:"force_daily_limit"`
}

func statusRows(recs []credential.Record, limit int, now time.Time) []statusRow {
	rows := make([]statusRow, 0, len(recs))
	for _, r := range recs {
		row := statusRow{
			AppID: r.AppID, Kind: r.Kind, Version: r.Version,
			Usable: r.Credential.Usable(now), Leased: r.LeaseHeld(now),
			LastErrorCode: r.LastErrorCode, LastError: r.LastError,
			ForceUsedToday: r.ForceUsed(now), ForceDailyLimit: limit,
		}
		if !r.RefreshedAt.IsZero() {
			row.RefreshedAt = r.RefreshedAt.Unix()
			row.AgeSeconds = int64(now.Sub(r.RefreshedAt) / time.Second)
		}
		if !r.ExpiresAt.IsZero() {
			row.ExpiresAt = r.ExpiresAt.Unix()
			row.ExpiresInSeconds = int64(r.ExpiresAt.Sub(now) / time.Second)
		}
		if !r.LastErrorAt.IsZero() {
			row.LastErrorAt = r.LastErrorAt.Unix()
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b statusRow) int {
		if c := strings.Compare(a.AppID, b.AppID); c != 0 {
			return c
		}
		return slices.Index(credential.Kinds, a.Kind) - slices.Index(credential.Kinds, b.Kind)
	})
	return rows
}

func writeStatusTable(w io.Writer, rows []statusRow, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APPID\tKIND\tVERSION\tAGE\tEXPIRES IN\tLEASE\tFORCED TODAY\tLAST ERROR")
	for _, r := range rows {
		age, expires := "-", "-"
		if r.RefreshedAt != 0 {
			age = human(time.Duration(r.AgeSeconds) * time.Second)
		}
		if r.ExpiresAt != 0 {
			if r.ExpiresInSeconds >= 0 {
				expires = human(time.Duration(r.ExpiresInSeconds) * time.Second)
			} else {
				expires = "expired " + human(time.Duration(-r.ExpiresInSeconds)*time.Second) + " ago"
			}
		}
		lease := "-"
		if r.Leased {
			lease = "held"
		}
		lastErr := "-"
		if r.LastError != "" || r.LastErrorCode != 0 {
			lastErr = r.LastError
			if r.LastErrorAt != 0 {
				lastErr += " (" + human(now.Sub(time.Unix(r.LastErrorAt, 0))) + " ago)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d/%d\t%s\n",
			r.AppID, r.Kind, r.Version, age, expires, lease, r.ForceUsedToday, r.ForceDailyLimit, lastErr)
	}
	return tw.Flush()
}

// human formats d to the second in its two largest units: 1h59m, 4m05s, 12s.
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h >= 24:
		return fmt.Sprintf("%dd%02dh", h/24, h%24)
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
