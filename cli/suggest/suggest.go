package suggest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/policy"
)

// New returns the suggest command.
func New(s cmdutil.Streams) *cobra.Command {
	var (
		path, ns, stage, outDir string
		l7, strict              bool
	)
	out := cmdutil.NewOutput("yaml", "yaml", "json")
	cmd := &cobra.Command{
		Use:   "suggest --flows FILE|-",
		Short: "Suggest CiliumNetworkPolicies from observed traffic",
		Long: `Reads evidence (posture JSONL or Hubble json/jsonpb exports; a file, a
directory, gzip, or - for stdin) and proposes CiliumNetworkPolicies per
namespace, organised by the stages of a safe rollout:

  baseline   allow everything within the namespace (default deny off)
  platform   DNS to the observed DNS server, kube-apiserver, host probes
  narrow     one policy per workload with its observed peers and ports
  enforce    the same with default deny on, per workload and direction
  l7         HTTP method/path and DNS name rules where they were observed

Without --stage it prints the target set: what is in force at the end of
the rollout (platform and narrow allows with default deny on; --l7 adds the
application-layer rules). Every rule carries its evidence in annotations.

Before anything is printed the target set is evaluated against every
observed flow: a proposal that would deny observed traffic is an error and
is not printed. A summary (namespaces, workloads, policies, coverage, least
privilege) and notes go to stderr.

--out DIR writes one file per policy under DIR/<namespace>/ with
kustomization.yaml files; with --stage all, one folder per stage.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--flows is required (a file, a directory, or - for stdin)")
			}
			if !advisor.ValidStage(stage) {
				return fmt.Errorf("--stage %q: want one of %s, all", stage, strings.Join(advisor.Stages, ", "))
			}
			if stage == advisor.StageAll && outDir == "" {
				return errors.New("--stage all needs --out DIR: each stage is written to its own folder")
			}
			edges, st, err := evidence.LoadEdgesWith(cmd.Context(), path, s.In, evidence.Options{Strict: strict})
			if err != nil {
				var le *evidence.LineError
				if errors.As(err, &le) {
					fmt.Fprintf(s.Err, "error: %v\n", le)
					return &cmdutil.ExitError{Code: 1}
				}
				return err
			}
			if st.Malformed > 0 {
				fmt.Fprintf(s.Err, "warning: %d malformed lines skipped; first: %v\n", st.Malformed, st.FirstMalformed)
			}
			if len(edges) == 0 {
				fmt.Fprintf(s.Err, "no evidence in %s (%d lines read, no flows or edges): no policies proposed\n", path, st.Lines)
				return nil
			}
			opts := advisor.Options{L7: l7}
			if ns != "" {
				opts.Namespaces = []string{ns}
			}
			p, err := advisor.Suggest(edges, opts)
			writeNotes(s.Err, p)
			if err != nil {
				if errors.Is(err, advisor.ErrBreakage) {
					for _, br := range p.Verification.Breakage {
						fmt.Fprintf(s.Err, "would deny: %s → %s %s (%d flows, %s): %s\n", br.Source, br.Destination, br.Port, br.Flows, br.Direction, br.Reason)
					}
					fmt.Fprintf(s.Err, "error: %v; nothing printed (this is a bug in posture: please report it with the evidence)\n", err)
					return &cmdutil.ExitError{Code: 1}
				}
				return err
			}
			if len(p.Namespaces) == 0 {
				fmt.Fprintln(s.Err, "no namespace to propose for (see the notes above)")
				return nil
			}
			switch {
			case outDir != "":
				if err := writeFiles(p, stage, outDir); err != nil {
					return err
				}
				fmt.Fprintf(s.Err, "wrote %s\n", outDir)
			case out.String() == "json":
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(p); err != nil {
					return fmt.Errorf("writing the proposal: %w", err)
				}
			default:
				b, err := policy.Marshal(p.Policies(stage))
				if err != nil {
					return fmt.Errorf("writing policies: %w", err)
				}
				if _, err := s.Out.Write(b); err != nil {
					return err
				}
			}
			WriteSummary(s.Err, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "flows", "", "evidence: file, directory, or - for stdin (posture JSONL or Hubble json/jsonpb, optionally gzip)")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "propose for this namespace only (default: every namespace in the evidence except kube-system)")
	cmd.Flags().StringVar(&stage, "stage", "", "print one stage's documents: "+strings.Join(advisor.Stages, ", ")+", or all (with --out); default: the target set")
	cmd.Flags().BoolVar(&l7, "l7", false, "include HTTP method/path and DNS name rules in the target set")
	cmd.Flags().StringVar(&outDir, "out", "", "write one file per policy under DIR/<namespace>/ with kustomization.yaml files")
	cmd.Flags().BoolVar(&strict, "strict", false, "stop at the first malformed evidence line and exit 1")
	out.Register(cmd)
	return cmd
}

// writeFiles writes the proposal's directory layout under dir.
func writeFiles(p *advisor.Proposal, stage, dir string) error {
	files, err := p.Files(stage)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		full := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("writing policies: %w", err)
		}
		if err := os.WriteFile(full, files[n], 0o644); err != nil {
			return fmt.Errorf("writing policies: %w", err)
		}
	}
	return nil
}

func writeNotes(w io.Writer, p *advisor.Proposal) {
	if p == nil {
		return
	}
	for _, n := range p.Notes {
		if n.Namespace != "" {
			fmt.Fprintf(w, "note [%s] %s: %s\n", n.Namespace, n.Kind, n.Text)
		} else {
			fmt.Fprintf(w, "note: %s\n", n.Text)
		}
	}
}

// WriteSummary prints the short account of a proposal (stderr).
func WriteSummary(w io.Writer, p *advisor.Proposal) {
	s := p.Summary
	var nss []string
	for _, np := range p.Namespaces {
		nss = append(nss, np.Namespace)
	}
	fmt.Fprintf(w, "suggested %d policies for %d workloads in %d namespaces (%s) from %d edges, %d flows\n",
		s.Policies, s.Workloads, s.Namespaces, strings.Join(nss, ", "), s.Edges, s.Flows)
	cov := 100.0
	if s.Flows > 0 {
		cov = 100 * float64(s.CoveredFlows) / float64(s.Flows)
	}
	how := "checked with the policy evaluator"
	if !p.Verification.Checked {
		how = "checked against posture's own model only (no evaluator)"
	}
	fmt.Fprintf(w, "coverage: %.1f%% of observed flows allowed (%s), %d would be denied\n", cov, how, len(p.Verification.Breakage))
	fmt.Fprintf(w, "least privilege: %d (source, destination, port) pairs allowed over the known identities, %d observed (ratio %.2f)\n",
		s.AllowedPairs, s.ObservedPairs, p.Verification.LeastPrivilege())
}
