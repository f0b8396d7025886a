package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

var replayCommand = &command{
	name:    "replay",
	summary: "replay a time window of pushes from the bus's EventBridge archive",
	usage:   "replay --from RFC3339 --to RFC3339 [--bus NAME] [--archive NAME|ARN] [--rule NAME|ARN]... [--name NAME] [--wait] [--poll D]",
	help: `
Starts an EventBridge replay (StartReplay) of the pushes the callback
function published between --from and --to (the events' own times, RFC 3339,
e.g. 2026-12-03T08:00:00+08:00) from the archive on the wxcentral bus back
onto that bus, so a consumer that was down catches up: WeChat never
re-sends a push after its three tries.

The bus is --bus or $EVENT_BUS_NAME; the archive is --archive, or the only
archive whose source is that bus. Without --rule every rule on the bus gets
the replayed events; --rule (repeatable) limits them to the named rules,
normally the rules of the consumer that missed them. Replayed events carry
a "replay-name" field; detail.dedupe_key identifies a push for consumers
that must not act twice.

The replay runs in EventBridge after this command returns; --wait polls
DescribeReplay every --poll and prints each state until it is COMPLETED
(exit 0), FAILED or CANCELLED (exit 1). Without --wait, follow it with
` + "`aws events describe-replay --replay-name NAME`" + `.

Uses the AWS SDK's standard configuration (AWS_PROFILE, AWS_REGION,
AWS_ENDPOINT_URL_EVENTBRIDGE, ...); the caller needs events:StartReplay,
events:DescribeReplay, events:DescribeArchive, events:ListArchives,
events:DescribeEventBus and events:DescribeRule.`,
	flags: func(fs *flag.FlagSet) func(context.Context, Env, []string) error {
		o := &replayFlags{}
		fs.StringVar(&o.from, "from", "", "start of the window, RFC 3339 (required)")
		fs.StringVar(&o.to, "to", "", "end of the window, RFC 3339 (required)")
		fs.StringVar(&o.bus, "bus", "", "event bus name or ARN (default $EVENT_BUS_NAME)")
		fs.StringVar(&o.archive, "archive", "", "archive name or ARN (default: the only archive of the bus)")
		fs.Func("rule", "replay only to this rule on the bus, name or ARN (repeatable; default every rule)", func(s string) error {
			if strings.TrimSpace(s) == "" {
				return errors.New("must not be empty")
			}
			o.rules = append(o.rules, strings.TrimSpace(s))
			return nil
		})
		fs.StringVar(&o.name, "name", "", "replay name (default wxcentral-<from>-<to>-<ms now>)")
		fs.BoolVar(&o.wait, "wait", false, "poll until the replay has finished")
		fs.DurationVar(&o.poll, "poll", 5*time.Second, "how often --wait asks for the replay's state")
		return func(ctx context.Context, env Env, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			req, err := o.request(env, time.Now())
			if err != nil {
				return err
			}
			cfg, err := awsconfig.LoadDefaultConfig(ctx)
			if err != nil {
				return fmt.Errorf("aws configuration: %w", err)
			}
			return runReplay(ctx, env.Stdout, eventbridge.NewFromConfig(cfg), req)
		}
	},
}

type replayFlags struct {
	from, to, bus, archive, name string
	rules                        []string
	wait                         bool
	poll                         time.Duration
}

// replayRequest is a validated command line.
type replayRequest struct {
	name, bus, archive string
	rules              []string
	from, to           time.Time
	wait               bool
	poll               time.Duration
}

// maxReplayName is EventBridge's limit on ReplayName.
const maxReplayName = 64

func (o *replayFlags) request(env Env, now time.Time) (replayRequest, error) {
	var r replayRequest
	var err error
	if r.from, err = parseWindowEnd("--from", o.from); err != nil {
		return r, err
	}
	if r.to, err = parseWindowEnd("--to", o.to); err != nil {
		return r, err
	}
	if !r.from.Before(r.to) {
		return r, usagef("--to: must be after --from")
	}
	r.bus = strings.TrimSpace(o.bus)
	if r.bus == "" {
		r.bus = strings.TrimSpace(env.Getenv("EVENT_BUS_NAME"))
	}
	r.archive = strings.TrimSpace(o.archive)
	if r.bus == "" && r.archive == "" {
		return r, usagef("--bus: required (or set EVENT_BUS_NAME, or give --archive)")
	}
	if o.poll < 100*time.Millisecond {
		return r, usagef("--poll: must be at least 100ms")
	}
	r.name = strings.TrimSpace(o.name)
	if r.name == "" {
		const stamp = "20060102T150405Z"
		r.name = fmt.Sprintf("wxcentral-%s-%s-%d", r.from.UTC().Format(stamp), r.to.UTC().Format(stamp), now.UnixMilli())
	}
	if len(r.name) > maxReplayName || strings.Trim(r.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
		return r, usagef("--name: at most %d letters, digits, '.', '-' or '_'", maxReplayName)
	}
	r.rules, r.wait, r.poll = o.rules, o.wait, o.poll
	return r, nil
}

func parseWindowEnd(flagName, s string) (time.Time, error) {
	if strings.TrimSpace(s) == "" {
		return time.Time{}, usagef("%s: required (RFC 3339, e.g. 2026-12-03T08:00:00+08:00)", flagName)
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, usagef("%s: %q is not an RFC 3339 time such as 2026-12-03T08:00:00+08:00", flagName, s)
	}
	return t, nil
}

// replayAPI is the part of the EventBridge client replay uses.
type replayAPI interface {
	DescribeEventBus(context.Context, *eventbridge.DescribeEventBusInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeEventBusOutput, error)
	DescribeArchive(context.Context, *eventbridge.DescribeArchiveInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeArchiveOutput, error)
	ListArchives(context.Context, *eventbridge.ListArchivesInput, ...func(*eventbridge.Options)) (*eventbridge.ListArchivesOutput, error)
	DescribeRule(context.Context, *eventbridge.DescribeRuleInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeRuleOutput, error)
	StartReplay(context.Context, *eventbridge.StartReplayInput, ...func(*eventbridge.Options)) (*eventbridge.StartReplayOutput, error)
	DescribeReplay(context.Context, *eventbridge.DescribeReplayInput, ...func(*eventbridge.Options)) (*eventbridge.DescribeReplayOutput, error)
}

// runReplay resolves the archive and bus, starts the replay and, with
// r.wait, follows it to its end.
func runReplay(ctx context.Context, out io.Writer, eb replayAPI, r replayRequest) error {
	archiveName, archiveArn, busArn, err := resolveArchive(ctx, eb, r.archive, r.bus)
	if err != nil {
		return err
	}
	var filters []string
	for _, rule := range r.rules {
		arn := rule
		if !strings.HasPrefix(rule, "arn:") {
			d, err := eb.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(rule), EventBusName: aws.String(busArn)})
			if err != nil {
				return fmt.Errorf("--rule %s: %w", rule, err)
			}
			arn = aws.ToString(d.Arn)
		}
		filters = append(filters, arn)
	}
	started, err := eb.StartReplay(ctx, &eventbridge.StartReplayInput{
		ReplayName:     aws.String(r.name),
		EventSourceArn: aws.String(archiveArn),
		EventStartTime: aws.Time(r.from),
		EventEndTime:   aws.Time(r.to),
		Destination:    &ebtypes.ReplayDestination{Arn: aws.String(busArn), FilterArns: filters},
		Description:    aws.String("wxcentral replay of pushes"),
	})
	if err != nil {
		return fmt.Errorf("start replay %s of archive %s: %w", r.name, archiveName, err)
	}
	target := "every rule"
	if len(filters) > 0 {
		target = strings.Join(filters, ", ")
	}
	fmt.Fprintf(out, "replay %s started: archive %s, events from %s to %s, onto %s (%s)\nstate %s\n",
		r.name, archiveName, r.from.UTC().Format(time.RFC3339), r.to.UTC().Format(time.RFC3339), busArn, target, started.State)
	if !r.wait {
		fmt.Fprintf(out, "follow it with: aws events describe-replay --replay-name %s\n", r.name)
		return nil
	}
	last := started.State
	for {
		d, err := eb.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(r.name)})
		if err != nil {
			return fmt.Errorf("describe replay %s: %w", r.name, err)
		}
		if d.State != last {
			fmt.Fprintf(out, "state %s\n", d.State)
			last = d.State
		}
		switch d.State {
		case ebtypes.ReplayStateCompleted:
			if t := d.EventLastReplayedTime; t != nil {
				fmt.Fprintf(out, "replay %s completed; last replayed event time %s\n", r.name, t.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintf(out, "replay %s completed\n", r.name)
			}
			return nil
		case ebtypes.ReplayStateFailed, ebtypes.ReplayStateCancelled:
			return fmt.Errorf("replay %s ended %s: %s", r.name, d.State, aws.ToString(d.StateReason))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replay %s still %s: %w", r.name, d.State, ctx.Err())
		case <-time.After(r.poll):
		}
	}
}

// resolveArchive returns the archive's name and ARN and the ARN of its
// source bus, the only bus EventBridge replays it onto.
func resolveArchive(ctx context.Context, eb replayAPI, archive, bus string) (name, arn, busArn string, err error) {
	if bus != "" {
		d, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: aws.String(bus)})
		if err != nil {
			return "", "", "", fmt.Errorf("--bus %s: %w", bus, err)
		}
		busArn = aws.ToString(d.Arn)
	}
	if archive == "" {
		list, err := eb.ListArchives(ctx, &eventbridge.ListArchivesInput{EventSourceArn: aws.String(busArn)})
		if err != nil {
			return "", "", "", fmt.Errorf("list the archives of bus %s: %w", bus, err)
		}
		var names []string
		for _, a := range list.Archives {
			names = append(names, aws.ToString(a.ArchiveName))
		}
		switch len(names) {
		case 0:
			return "", "", "", fmt.Errorf("bus %s has no archive: deploy the stack's archive, or give --archive", bus)
		case 1:
			archive = names[0]
		default:
			return "", "", "", fmt.Errorf("bus %s has %d archives (%s): choose one with --archive", bus, len(names), strings.Join(names, ", "))
		}
	}
	// DescribeArchive takes a name; an ARN ends in archive/<name>.
	name = archive
	if strings.HasPrefix(archive, "arn:") {
		_, name, _ = strings.Cut(archive, ":archive/")
	}
	d, err := eb.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(name)})
	if err != nil {
		return "", "", "", fmt.Errorf("--archive %s: %w", archive, err)
	}
	source := aws.ToString(d.EventSourceArn)
	if busArn != "" && source != busArn {
		return "", "", "", fmt.Errorf("--archive %s archives bus %s, not %s: a replay goes back onto the archive's own bus", name, source, busArn)
	}
	return name, aws.ToString(d.ArchiveArn), source, nil
}
