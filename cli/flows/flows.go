package flows

import (
	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the flows command group.
func New(s cmdutil.Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flows",
		Short: "Inspect flow evidence (posture JSONL or Hubble exports)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newSummarize(s))
	return cmd
}
