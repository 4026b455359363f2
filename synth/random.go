package synth

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Config sizes a random topology.
type Config struct {
	Namespaces int
	// Workloads per namespace; each is one identity labelled app=<name>.
	Workloads int
	// Edges is how many distinct edges to generate (at most; a small
	// topology may not have that many distinct shapes).
	Edges int
	// CrossNamespace is the share of pod-to-pod edges whose destination is
	// in another namespace.
	CrossNamespace float64
	// External is the share of edges to the world (by name or address);
	// Platform the share to DNS, the API server and from host probes.
	External, Platform float64
}

// Topology generates edges for a random cluster: workloads serving one to
// three ports each, clients choosing servers, some traffic across
// namespaces, to the world by name and by address, DNS to kube-dns, the
// API server, and kubelet probes. The same seed and config give the same
// edges.
func Topology(seed int64, cfg Config) []flow.Edge {
	r := rand.New(rand.NewPCG(uint64(seed), 0x746f706f))
	type wl struct {
		ep    flow.Endpoint
		ports []uint16
	}
	nsWls := make([][]wl, cfg.Namespaces)
	id := flow.Identity(1000)
	for n := range cfg.Namespaces {
		ns := fmt.Sprintf("ns-%03d", n)
		for w := range cfg.Workloads {
			name := fmt.Sprintf("w%03d", w)
			ls := flow.PodIdentity{Namespace: ns, ServiceAccount: name, Cluster: "default",
				PodLabels:       map[string]string{"app": name, "tier": []string{"web", "app", "data"}[w%3]},
				NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns}}.IdentityLabels()
			id++
			np := 1 + r.IntN(3)
			ports := make([]uint16, np)
			base := uint16(8000 + r.IntN(100)*10)
			for i := range ports {
				ports[i] = base + uint16(i)
			}
			nsWls[n] = append(nsWls[n], wl{ep: flow.Endpoint{Identity: id, Namespace: ns, Labels: ls}, ports: ports})
		}
	}
	dnsLs := flow.PodIdentity{Namespace: "kube-system", ServiceAccount: "coredns",
		PodLabels: map[string]string{"k8s-app": "kube-dns"}}.IdentityLabels()
	dns := flow.Endpoint{Identity: 900, Namespace: "kube-system", Labels: dnsLs}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool, cfg.Edges)
	out := make([]flow.Edge, 0, cfg.Edges)
	for tries := 0; len(out) < cfg.Edges && tries < cfg.Edges*4; tries++ {
		n := r.IntN(cfg.Namespaces)
		src := nsWls[n][r.IntN(len(nsWls[n]))]
		e := flow.Edge{Source: src.ep, Protocol: flow.ProtoTCP, Flows: uint64(1 + r.IntN(1000)),
			FirstSeen: t0.Add(time.Duration(r.IntN(3600)) * time.Second)}
		e.LastSeen = e.FirstSeen.Add(time.Duration(r.IntN(7*24)) * time.Hour)
		e.Verdicts.Add(flow.VerdictForwarded, e.Flows)
		e.ObservedEgress = e.Flows
		x := r.Float64()
		switch {
		case x < cfg.Platform/3:
			e.Destination, e.Protocol, e.Port = dns, flow.ProtoUDP, 53
		case x < cfg.Platform*2/3:
			e.Destination = flow.Endpoint{Identity: flow.IdentityKubeAPIServer, Labels: flow.ReservedLabels(flow.IdentityKubeAPIServer)}
			e.Port = 443
		case x < cfg.Platform:
			e.Source = flow.Endpoint{Identity: flow.IdentityHost, Labels: flow.ReservedLabels(flow.IdentityHost)}
			e.Destination = src.ep
			e.Port = 8081
		case x < cfg.Platform+cfg.External/2:
			host := fmt.Sprintf("h%d.svc%d.example.com", r.IntN(4), r.IntN(50))
			e.Destination = flow.Endpoint{Identity: flow.IdentityWorld, Labels: flow.ReservedLabels(flow.IdentityWorld)}
			e.DNSNames = []string{host}
			e.DestinationIPs = []string{fmt.Sprintf("203.0.113.%d", r.IntN(250))}
			e.Port = 443
		case x < cfg.Platform+cfg.External:
			e.Destination = flow.Endpoint{Identity: flow.IdentityWorld, Labels: flow.ReservedLabels(flow.IdentityWorld)}
			e.DestinationIPs = []string{fmt.Sprintf("198.51.%d.%d", r.IntN(4), r.IntN(250))}
			e.Port = uint16(443 + r.IntN(3))
		default:
			dn := n
			if r.Float64() < cfg.CrossNamespace {
				dn = r.IntN(cfg.Namespaces)
			}
			dst := nsWls[dn][r.IntN(len(nsWls[dn]))]
			e.Destination = dst.ep
			e.Port = dst.ports[r.IntN(len(dst.ports))]
		}
		k := fmt.Sprintf("%d|%d|%s|%s|%d|%v", e.Source.Identity, e.Destination.Identity, e.Destination.Namespace, e.Protocol, e.Port, e.DNSNames)
		if seen[k] {
			// World edges without names fold their addresses into one edge,
			// as the aggregator does.
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}
