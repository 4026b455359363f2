package cmdutil

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Streams are the command's standard streams: data goes to Out, logs and
// summaries to Err.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Logger returns a text slog logger writing to Err.
func (s Streams) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s.Err, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Output is an -o flag restricted to an enum of formats.
type Output struct {
	value   string
	allowed []string
}

// NewOutput returns an -o value defaulting to def.
func NewOutput(def string, allowed ...string) *Output {
	return &Output{value: def, allowed: allowed}
}

// String implements pflag.Value.
func (o *Output) String() string { return o.value }

// Set implements pflag.Value, rejecting formats not in the enum.
func (o *Output) Set(v string) error {
	if !slices.Contains(o.allowed, v) {
		return fmt.Errorf("must be one of: %s", strings.Join(o.allowed, "|"))
	}
	o.value = v
	return nil
}

// Type implements pflag.Value.
func (o *Output) Type() string { return strings.Join(o.allowed, "|") }

// Register adds -o/--output to cmd.
func (o *Output) Register(cmd *cobra.Command) {
	cmd.Flags().VarP(o, "output", "o", "output format: "+strings.Join(o.allowed, ", "))
}

// ExitError carries a process exit code without printing anything more; a
// command returns it when its output already said what went wrong (lint
// errors, denied flows with --fail-on-deny).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// ExitCode maps an error from a command to a process exit code.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}
