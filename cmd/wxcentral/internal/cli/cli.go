// Package cli implements the wxcentral command: `dev` runs the local stack;
// `status`, `token`, `refresh` and `send` operate a stack, deployed on AWS
// (TABLE_NAME, REFRESH_FUNCTION_NAME and the SDK's standard configuration)
// or, when TABLE_NAME is unset, the local one a running `wxcentral dev`
// recorded in its state file; `replay` replays archived pushes onto the
// EventBridge bus (SDK configuration only).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Env is the process environment a command runs in.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// OSEnv is the real process environment.
func OSEnv() Env { return Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv} }

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the command ran and failed
	ExitUsage = 2 // bad command line
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	usage   string // the synopsis line after "wxcentral "
	help    string // paragraphs after the synopsis
	flags   func(fs *flag.FlagSet) func(ctx context.Context, env Env, args []string) error
}

var commands []*command

func init() {
	commands = []*command{devCommand, statusCommand, tokenCommand, refreshCommand, sendCommand, replayCommand}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Main runs the command line args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		mainUsage(env.Stderr)
		return ExitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			mainUsage(env.Stdout)
			return ExitOK
		}
		c := lookup(rest[0])
		if c == nil {
			fmt.Fprintf(env.Stderr, "wxcentral help: unknown command %q\n", rest[0])
			mainUsage(env.Stderr)
			return ExitUsage
		}
		commandUsage(env.Stdout, c)
		return ExitOK
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(env.Stderr, "wxcentral: unknown command %q\n\n", name)
		mainUsage(env.Stderr)
		return ExitUsage
	}
	return run(ctx, c, rest, env)
}

func run(ctx context.Context, c *command, args []string, env Env) int {
	fs := flag.NewFlagSet("wxcentral "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runFn := c.flags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(env.Stdout, c)
			return ExitOK
		}
		return badUsage(env, c, flagError(err))
	}
	err := runFn(ctx, env, fs.Args())
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return badUsage(env, c, ue.msg)
	default:
		fmt.Fprintf(env.Stderr, "wxcentral %s: %v\n", c.name, err)
		return ExitError
	}
}

// flagError rewords the flag package's messages with the two-dash
// spelling the help uses.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + strings.TrimPrefix(name, "-") + " needs a value"
	}
	return msg
}

func badUsage(env Env, c *command, msg string) int {
	fmt.Fprintf(env.Stderr, "wxcentral %s: %s\nusage: wxcentral %s\nRun 'wxcentral help %s' for details.\n", c.name, msg, c.usage, c.name)
	return ExitUsage
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q (every option is a --flag)", args[0])
	}
	return nil
}

func mainUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("wxcentral: the local stack and operator tool for wxcentral.\n\nUsage:\n  wxcentral <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("  help     show the help of a command: wxcentral help <command>\n\n" +
		"status, token and refresh use the deployed stack when TABLE_NAME is set (with\n" +
		"REFRESH_FUNCTION_NAME for refresh and the AWS SDK's standard configuration,\n" +
		"AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_*); otherwise the local stack that a\n" +
		"running `wxcentral dev` recorded in its state file.\n")
	io.WriteString(w, b.String())
}

func commandUsage(w io.Writer, c *command) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	fmt.Fprintf(w, "usage: wxcentral %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	var flags strings.Builder
	fs.SetOutput(&flags)
	fs.PrintDefaults()
	if flags.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", strings.ReplaceAll(flags.String(), "  -", "  --"))
	}
}
