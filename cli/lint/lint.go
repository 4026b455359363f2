package lint

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the lint command.
func New(s cmdutil.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "lint",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("posture lint: not implemented yet")
		},
	}
}
