package report

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the report command.
func New(s cmdutil.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("posture report: not implemented yet")
		},
	}
}
