package demo

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/posture-dev/posture/synth"
)

// demoSeed fixes the synthetic topology, so every demo run shows the same
// evidence and the same proposal.
const demoSeed = 1

// stepEvidence writes a week of synthetic flows for the example shop as
// posture JSONL, the format the node agent exports.
func stepEvidence(_ context.Context, e *env) error {
	flows := synth.Shop(demoSeed)
	path := filepath.Join(e.dir, "evidence.jsonl")
	if err := synth.WriteFlowsFile(path, flows); err != nil {
		return err
	}
	e.evidence = path
	fmt.Fprintf(e.s.Out, "wrote %d flows over %d days (namespaces %v) to %s\n", len(flows), synth.Days, synth.Namespaces(), path)
	fmt.Fprintln(e.s.Out, "shop: frontend → api → postgres (StatefulSet), payments → *.paygate.example.com by name,")
	fmt.Fprintln(e.s.Out, "      mailer → raw addresses, shop-operator → kube-apiserver, a daily backup CronJob → postgres,")
	fmt.Fprintln(e.s.Out, "      kubelet probes; ingress-nginx and monitoring call in from other namespaces; kube-dns serves DNS")
	fmt.Fprintln(e.s.Out, "(on a node, `posture agent` records this from live traffic with eBPF; to watch it on a real")
	fmt.Fprintln(e.s.Out, " network-namespace test bed, as root: go test ./recorder -run TestAgentRecordsTestBed -v)")
	return nil
}
