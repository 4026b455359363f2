package flows

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
)

func newSummarize(s cmdutil.Streams) *cobra.Command {
	var (
		path, ns string
		strict   bool
	)
	out := cmdutil.NewOutput("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "summarize --flows FILE|-",
		Short: "Aggregate flows into identity-to-identity edges",
		Long: `Reads posture JSONL or Hubble exports (hubble observe -o json / -o jsonpb;
a file, a directory of files, gzip, or - for stdin) and prints one edge per
connection shape: source identity, destination identity or entity, protocol
and port, with flow counts, where it was observed, verdicts, pods, DNS names
and HTTP samples. -o json writes the edges as posture JSONL Edge records,
which verify and suggest read. A footer on stderr accounts for every line.

Malformed lines are skipped and counted; --strict stops at the first one
and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("--flows is required (a file, a directory, or - for stdin)")
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
			if ns != "" {
				edges = FilterNamespace(edges, ns)
			}
			switch out.String() {
			case "json":
				w := flow.NewWriter(s.Out)
				for i := range edges {
					if err := w.WriteEdge(&edges[i]); err != nil {
						return fmt.Errorf("writing edges: %w", err)
					}
				}
				if err := w.Flush(); err != nil {
					return fmt.Errorf("writing edges: %w", err)
				}
			default:
				if err := RenderTable(s.Out, edges); err != nil {
					return err
				}
			}
			WriteFooter(s.Err, st, len(edges))
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "flows", "", "evidence: file, directory, or - for stdin (posture JSONL or Hubble json/jsonpb, optionally gzip)")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "only edges with an endpoint in this namespace")
	cmd.Flags().BoolVar(&strict, "strict", false, "stop at the first malformed line and exit 1")
	out.Register(cmd)
	return cmd
}

// FilterNamespace keeps edges with either endpoint in ns.
func FilterNamespace(edges []flow.Edge, ns string) []flow.Edge {
	out := edges[:0:0]
	for _, e := range edges {
		if e.Source.Namespace == ns || e.Destination.Namespace == ns {
			out = append(out, e)
		}
	}
	return out
}

// WriteFooter accounts for the input on w (stderr): every line read is a
// used flow, a folded reply, an edge record, a non-flow response, blank,
// or malformed.
func WriteFooter(w io.Writer, st evidence.Stats, edges int) {
	fmt.Fprintf(w, "%d edges from %d connections; lines read: %d, flows used: %d, replies folded: %d",
		edges, st.Connections, st.Lines, st.Flows, st.Replies)
	if st.Edges > 0 {
		fmt.Fprintf(w, ", edge records: %d", st.Edges)
	}
	fmt.Fprintf(w, ", non-flow responses: %d, lost events: %d, malformed lines skipped: %d", st.NonFlow, st.LostEvents, st.Malformed)
	if st.Blank > 0 {
		fmt.Fprintf(w, ", blank lines: %d", st.Blank)
	}
	fmt.Fprintln(w)
	if st.FirstMalformed != nil {
		fmt.Fprintf(w, "first malformed line: %v\n", st.FirstMalformed)
	}
	if st.LostEvents > 0 {
		fmt.Fprintf(w, "warning: Hubble lost %d events; edges may be missing\n", st.LostEvents)
	}
	if len(st.UnavailableNodes) > 0 {
		fmt.Fprintf(w, "warning: nodes not streaming during the export: %v\n", st.UnavailableNodes)
	}
	for _, f := range st.EmptyFiles {
		fmt.Fprintf(w, "warning: %s is empty\n", f)
	}
}
