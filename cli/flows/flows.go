package flows

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the flows command.
func New(s cmdutil.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "flows",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("posture flows: not implemented yet")
		},
	}
}
