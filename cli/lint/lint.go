package lint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/policy"
)

// maxStdin bounds what lint reads from standard input.
const maxStdin = 64 << 20

// Options are the lint command's inputs.
type Options struct {
	Policies string // file or directory, or "-" for stdin
	Output   string // "table" or "json"
}

// New returns the lint command.
func New(s cmdutil.Streams) *cobra.Command {
	var o Options
	out := cmdutil.NewOutput("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "lint --policies PATH",
		Short: "Check CiliumNetworkPolicies for errors and the mistakes Cilium accepts silently",
		Long: `lint loads every CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy in a
file or directory (.yaml, .yml, .json; multi-document and List kinds) and
reports, with file:line, severity, rule id and a fix hint:

  - what Cilium would reject: malformed YAML, unknown fields (such as "deny"),
    wrong types, invalid ports, protocols, CIDRs, entities, FQDNs, L7 rules
    where Cilium does not allow them;
  - what Cilium accepts but does not do what it looks like: namespace labels
    read as pod labels, toFQDNs without a DNS rule, DNS on UDP only, deny-only
    policies that default-deny a whole direction, egress default deny without
    DNS, broad entities without ports, toServices on selector-backed
    Services, host policies on every node, duplicates, rules written in the
    wrong direction, and L7 rules of two protocols (HTTP and DNS) for one
    peer and port, which Cilium cannot merge.

Snippets that are not whole objects (a bare spec, ingress/egress lists, a
toPorts list, a rule from "cilium policy get") are checked too. Other kinds
(Deployments, ...) are skipped. "--policies -" reads standard input (as
"kubectl get cnp -o yaml | posture lint --policies -"). Findings go to stdout, the summary to
stderr; the exit status is 1 when there is any error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Output = out.String()
			_, err := Run(s, o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Policies, "policies", "", "policy file or directory, or - for stdin (required)")
	out.Register(cmd)
	_ = cmd.MarkFlagRequired("policies")
	return cmd
}

// Run lints o.Policies and writes the findings to s.Out. It returns a
// *cmdutil.ExitError with code 1 when any finding is an error.
func Run(s cmdutil.Streams, o Options) (*policy.LintReport, error) {
	if o.Policies == "" {
		return nil, errors.New("--policies is required")
	}
	var rep *policy.LintReport
	if o.Policies == "-" {
		// a policy piped from kubectl or an editor buffer
		data, err := io.ReadAll(io.LimitReader(s.In, maxStdin+1))
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		if len(data) > maxStdin {
			return nil, fmt.Errorf("reading stdin: more than %d MiB", maxStdin>>20)
		}
		rep = policy.LintBytes("<stdin>", data)
	} else {
		var err error
		if rep, err = policy.LintPath(o.Policies); err != nil {
			return nil, err
		}
	}
	var err error
	if o.Output == "json" {
		err = writeJSON(s.Out, rep.Findings)
	} else {
		err = writeTable(s.Out, rep.Findings)
	}
	if err != nil {
		return rep, fmt.Errorf("writing findings: %w", err)
	}
	writeSummary(s.Err, rep)
	if rep.Count(policy.SeverityError) > 0 {
		return rep, &cmdutil.ExitError{Code: 1}
	}
	return rep, nil
}

// writeTable prints one finding per line in the compiler style editors
// understand ("file:line:col: severity ..."), with the hint below it.
func writeTable(w io.Writer, fs []policy.Finding) error {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s: %s [%s] ", f.Location(), f.Severity, f.Rule)
		if f.Path != "" {
			b.WriteString(f.Path)
			b.WriteString(": ")
		}
		b.WriteString(f.Message)
		b.WriteByte('\n')
		if f.Hint != "" {
			fmt.Fprintf(&b, "    hint: %s\n", f.Hint)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeJSON(w io.Writer, fs []policy.Finding) error {
	if fs == nil {
		fs = []policy.Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fs)
}

func writeSummary(w io.Writer, rep *policy.LintReport) {
	for _, sk := range rep.Skipped {
		what := strings.TrimSpace(sk.APIVersion + " " + sk.Kind)
		if what == "" {
			what = "document"
		}
		fmt.Fprintf(w, "skipped %s:%d: %s (%s)\n", sk.File, sk.Line, what, sk.Reason)
	}
	fmt.Fprintf(w, "%s, %s, %d info in %s (%s, %d other %s skipped)\n",
		plural(rep.Count(policy.SeverityError), "error"), plural(rep.Count(policy.SeverityWarning), "warning"),
		rep.Count(policy.SeverityInfo), plural(len(rep.Files), "file"), plural(len(rep.Policies), "policy"),
		len(rep.Skipped), pluralWord(len(rep.Skipped), "document"))
}

func plural(n int, word string) string {
	return fmt.Sprintf("%d %s", n, pluralWord(n, word))
}

func pluralWord(n int, word string) string {
	if n == 1 {
		return word
	}
	if strings.HasSuffix(word, "y") {
		return word[:len(word)-1] + "ies"
	}
	return word + "s"
}
