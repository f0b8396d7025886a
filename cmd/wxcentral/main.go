// Command wxcentral runs the local stack (`wxcentral dev`, what `make run`
// starts) and operates a stack, local or deployed: status, token, refresh,
// send. Run `wxcentral help` for the commands; the work lives in
// cmd/wxcentral/internal/cli and internal/devstack.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wxcentral/wxcentral/cmd/wxcentral/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.OSEnv())
	stop()
	os.Exit(code)
}
