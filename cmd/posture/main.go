// Command posture rolls out Cilium network policy from observed traffic:
// suggest, verify, stage, promote and report.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/posture-dev/posture/cli"
	"github.com/posture-dev/posture/cli/cmdutil"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.New(cmdutil.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}).ExecuteContext(ctx)
	stop()
	var ee *cmdutil.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "Error:", err)
	}
	os.Exit(cmdutil.ExitCode(err))
}
