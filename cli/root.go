package cli

import (
	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/agent"
	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/cli/demo"
	"github.com/posture-dev/posture/cli/flows"
	"github.com/posture-dev/posture/cli/lint"
	"github.com/posture-dev/posture/cli/report"
	"github.com/posture-dev/posture/cli/rollout"
	"github.com/posture-dev/posture/cli/suggest"
	"github.com/posture-dev/posture/cli/verify"
)

// New returns the root posture command.
func New(s cmdutil.Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "posture",
		Short:         "Roll out Cilium network policy from observed traffic, without breaking production",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		lint.New(s),
		verify.New(s),
		flows.New(s),
		suggest.New(s),
		agent.New(s),
		rollout.New(s),
		report.New(s),
		demo.New(s),
	)
	return root
}
