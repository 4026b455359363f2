//go:build !linux

package agent

import (
	"context"
	"errors"

	"github.com/posture-dev/posture/cli/cmdutil"
)

func run(context.Context, cmdutil.Streams, Options) error {
	return errors.New("posture agent needs Linux (eBPF)")
}
