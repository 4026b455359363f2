package rollout

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// New returns the rollout command.
func New(s cmdutil.Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "rollout",
		Short: "not implemented yet",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("posture rollout: not implemented yet")
		},
	}
}
