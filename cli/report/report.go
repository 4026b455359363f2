package report

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	clirollout "github.com/posture-dev/posture/cli/rollout"
	"github.com/posture-dev/posture/reports"
	"github.com/posture-dev/posture/rollout"
)

type options struct {
	namespace string
	out       string
	status    string
	workloads bool
	brief     bool
	width     int
	output    *cmdutil.Output
	cluster   clirollout.Cluster
}

// New returns the report command.
func New(s cmdutil.Streams) *cobra.Command {
	o := &options{output: cmdutil.NewOutput(reports.Formats[0], reports.Formats...)}
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Report rollout progress: stage, gates, coverage, would-deny flows, ETA, history",
		Long: `Report where each namespace stands in the staged rollout: its stage and time
in it, each gate's value against its threshold, coverage, the flows the
to-be-enforced policy would deny (with the rule change that would cover each),
when the next promotion can happen, and the transition history, with a
cluster-wide summary.

The status comes from the cluster of the current kubeconfig context (the
rollout state posture rollout keeps there, with the gates judged on --flows
against --policies or a suggestion from the flows), or from --status FILE,
the JSON of posture rollout status -o json.

Formats: table (terminal), markdown (for a pull request or change ticket),
json (versioned schema: reports/schema/report.v1.json), html (one
self-contained file with charts; needs --out or a redirect).`,
		Example: `  posture report --flows flows.jsonl             # the cluster of the current kubeconfig context
  posture report --flows flows.jsonl -n shop --workloads -o markdown
  posture report --status status.json
  posture report --status http://posture-rollout.posture:9090/status -o html --out report.html
  posture report --status status.json -n shop
  posture report --status status.json -o html --out report.html
  posture report --status status.json -o markdown > rollout.md`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Drilling into one namespace means wanting its workloads.
			if o.namespace != "" && !cmd.Flags().Changed("workloads") {
				o.workloads = true
			}
			return run(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "", "report on one namespace only")
	f.StringVar(&o.out, "out", "", "write the report to this file instead of stdout (- for stdout)")
	f.StringVar(&o.status, "status", "", "read the rollout status from this JSON file (posture rollout status -o json; - for stdin) or URL (posture rollout serve's /status) instead of computing it from the cluster")
	f.BoolVar(&o.workloads, "workloads", false, "add the per-workload breakdown of each namespace (default on with -n)")
	f.BoolVar(&o.brief, "brief", false, "table and markdown: only the cluster summary and the namespace overview")
	f.IntVar(&o.width, "width", 0, "table: fit to this many columns (default: the terminal's width; unlimited when not a terminal)")
	o.output.Register(cmd)
	o.cluster.Register(cmd.Flags())
	for _, f := range []string{"kubeconfig", "context", "flows", "policies", "now"} {
		cmd.MarkFlagsMutuallyExclusive("status", f)
	}
	return cmd
}

func run(ctx context.Context, s cmdutil.Streams, o *options) error {
	if o.out == "-" {
		o.out = ""
	}
	st, err := loadStatus(ctx, s, o)
	if err != nil {
		return err
	}
	ropts := reports.Options{Namespace: o.namespace, Workloads: o.workloads, Brief: o.brief, Width: o.width}
	if o.out == "" && o.output.String() == "table" {
		w, color := cmdutil.TableWidth(s.Out)
		if ropts.Width == 0 {
			ropts.Width = w
		}
		ropts.Color = color
	}
	r, err := reports.Build(st, ropts)
	if err != nil {
		return err
	}
	if o.out == "" {
		return reports.Write(s.Out, r, o.output.String())
	}
	if err := writeFile(o.out, func(w io.Writer) error { return reports.Write(w, r, o.output.String()) }); err != nil {
		return err
	}
	fmt.Fprintf(s.Err, "wrote the %s report on %d namespace(s) to %s\n", o.output.String(), len(r.Namespaces), o.out)
	return nil
}

// loadStatus reads --status, or computes the status from the cluster's
// rollout state with the rollout engine.
func loadStatus(ctx context.Context, s cmdutil.Streams, o *options) (*rollout.Status, error) {
	switch o.status {
	case "":
		st, err := o.cluster.Status(ctx, s, o.namespace)
		if err != nil {
			return nil, fmt.Errorf("no rollout status to report on: pass --status FILE, or a cluster (%w)", err)
		}
		return st, nil
	case "-":
		return reports.ReadStatus("stdin", s.In)
	}
	if strings.HasPrefix(o.status, "http://") || strings.HasPrefix(o.status, "https://") {
		return fetchStatus(ctx, o.status)
	}
	f, err := os.Open(o.status)
	if err != nil {
		return nil, fmt.Errorf("opening rollout status: %w", err)
	}
	defer f.Close()
	return reports.ReadStatus(o.status, f)
}

// fetchStatus reads the status from posture rollout serve's /status.
func fetchStatus(ctx context.Context, url string) (*rollout.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("--status %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching rollout status: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("fetching rollout status from %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return reports.ReadStatus(url, resp.Body)
}

// writeFile writes through a temporary file in the same directory, so a
// failed render never leaves half a report where the last good one was.
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("creating report file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing report file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing report file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing report file: %w", err)
	}
	return nil
}
