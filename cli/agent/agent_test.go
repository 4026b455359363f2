package agent

import (
	"bytes"
	"strings"
	"testing"

	"github.com/posture-dev/posture/cli/cmdutil"
)

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give either --endpoints FILE or --node NAME"},
		{[]string{"--endpoints", "e.yaml", "--node", "n"}, "give either --endpoints FILE or --node NAME"},
		{[]string{"--endpoints", "e.yaml", "--kubeconfig", "k"}, "exclude each other"},
		{[]string{"--endpoints", "/nonexistent/e.yaml", "--attach", "xdp"}, `--attach "xdp"`},
		{[]string{"--endpoints", "/nonexistent/e.yaml"}, "reading endpoints"},
	} {
		var out, errb bytes.Buffer
		cmd := New(cmdutil.Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
		cmd.SilenceUsage, cmd.SilenceErrors = true, true // as under the root command
		cmd.SetArgs(tc.args)
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: wrote to stdout: %q", tc.args, out.String())
		}
	}
}
