package suggest

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the suggest command.
func New(s cmdutil.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "suggest",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("posture suggest: not implemented yet")
		},
	}
}
