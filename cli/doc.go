// Package cli assembles the posture command tree. Each command group lives
// in its own subpackage with a New(cmdutil.Streams) *cobra.Command
// constructor; this package only wires them together.
package cli
