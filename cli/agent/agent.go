package agent

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// Options are the agent command's inputs.
type Options struct {
	Endpoints   string
	Kubeconfig  string
	Node        string
	Policies    string
	Out         string
	MetricsAddr string
	Interval    time.Duration
	Duration    time.Duration
	PinPath     string
	NetNS       string
	Attach      string
	FlowEntries uint32
}

// New returns the agent command.
func New(s cmdutil.Streams) *cobra.Command {
	var o Options
	cmd := &cobra.Command{
		Use:   "agent --endpoints FILE | --kubeconfig PATH --node NAME",
		Short: "Observe pod traffic with eBPF in audit posture and export edges",
		Long: `agent is posture's node agent (root, Linux). It attaches eBPF programs to
the host side of each pod's veth (TCX, or tc clsact where TCX is missing),
records every flow in kernel maps pinned on bpffs (so a restart keeps the
counts), learns DNS names from answers delivered to pods, and tags each new
flow with the verdict the staged policy set (--policies) would give if it
were enforced: allowed, audit (would be denied) or not selected. Nothing is
ever dropped.

Endpoints come from --endpoints FILE (format in the README; re-read when it
changes) or from the Kubernetes API (--kubeconfig, or in-cluster config
when empty, with --node naming this node).

Edges are exported in posture's JSONL format every --interval: --out FILE
is rewritten atomically with every edge so far; --out - streams, per
interval, what changed since the last export (consumers add edges up).
Prometheus metrics are served on --metrics-addr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			if (o.Endpoints == "") == (o.Node == "") {
				return errors.New("give either --endpoints FILE or --node NAME (with --kubeconfig outside a cluster)")
			}
			if o.Endpoints != "" && o.Kubeconfig != "" {
				return errors.New("--endpoints and --kubeconfig exclude each other")
			}
			if o.Duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, o.Duration)
				defer cancel()
			}
			return run(ctx, s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Endpoints, "endpoints", "", "endpoints file (YAML; see README)")
	f.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for the pod and namespace informers (empty: in-cluster)")
	f.StringVar(&o.Node, "node", "", "this node's name, for the informers")
	f.StringVar(&o.Policies, "policies", "", "directory of the staged CiliumNetworkPolicy set (reloaded on change)")
	f.StringVar(&o.Out, "out", "-", "edges output: a file (rewritten each interval) or - for stdout (changes per interval)")
	f.StringVar(&o.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9965)")
	f.DurationVar(&o.Interval, "interval", 10*time.Second, "export (and policy reload check) interval")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until interrupted)")
	f.StringVar(&o.PinPath, "pin-path", "/sys/fs/bpf/posture", "bpffs directory for the pinned maps (mounted if needed)")
	f.StringVar(&o.NetNS, "netns", "", "network namespace path holding the pods' host-side interfaces (default: the agent's)")
	f.StringVar(&o.Attach, "attach", "auto", "hook: auto (TCX, else tc clsact), tcx or clsact")
	f.Uint32Var(&o.FlowEntries, "flow-entries", 0, "flows the kernel flow table holds (0: 262144; the LRU maps behind it hold an eighth as many each; changing it needs the pinned maps removed)")
	return cmd
}
