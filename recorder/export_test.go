package recorder

import (
	"net/netip"
	"testing"
	"time"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
)

func TestBuildEdgesAndDeltas(t *testing.T) {
	web := flow.Endpoint{Identity: 256, Namespace: "shop", Pod: "web-1", Labels: flow.NewLabels("k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop")}
	cli := flow.Endpoint{Identity: 257, Namespace: "shop", Pod: "cli-1", Labels: flow.NewLabels("k8s:app=cli", "k8s:io.kubernetes.pod.namespace=shop")}
	a, b, w := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("192.0.2.9")
	view := func(ip netip.Addr, _ uint32) flow.Endpoint {
		switch ip {
		case a:
			e := cli
			e.IP = ip.String()
			return e
		case b:
			e := web
			e.IP = ip.String()
			return e
		}
		return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip.String()}
	}
	t0 := time.Unix(1000, 0).UTC()
	conn := func(sport uint16, dir uint8) bpf.Conn {
		return bpf.Conn{Src: a, Dst: b, SrcPort: sport, DstPort: 80, Proto: bpf.ProtoTCP, Dir: dir}
	}
	obs := []observation{
		// one connection seen at both ends, the ingress side audited
		{Conn: conn(1000, bpf.DirEgress), First: t0, Last: t0.Add(time.Second), Verdict: bpf.VerdictAllowed, Conns: 1},
		{Conn: conn(1000, bpf.DirIngress), First: t0, Last: t0.Add(2 * time.Second), Verdict: bpf.VerdictAudit, Conns: 1},
		// a reused 4-tuple: two connections
		{Conn: conn(1001, bpf.DirEgress), First: t0, Last: t0, Verdict: bpf.VerdictAllowed, Conns: 2},
		// to the world, with names
		{Conn: bpf.Conn{Src: a, Dst: w, SrcPort: 5, DstPort: 443, Proto: bpf.ProtoTCP, Dir: bpf.DirEgress}, First: t0, Last: t0, Conns: 1, Names: []string{"api.example.com"}},
	}
	edges := buildEdges(obs, view)
	if len(edges) != 2 {
		t.Fatalf("%d edges: %+v", len(edges), edges)
	}
	pod, world := edges[0], edges[1]
	if !pod.Destination.IsPod() {
		pod, world = world, pod
	}
	if pod.Flows != 3 || pod.ObservedEgress != 3 || pod.ObservedIngress != 1 ||
		pod.Verdicts.Get(flow.VerdictAudit) != 1 || pod.Verdicts.Get(flow.VerdictForwarded) != 2 ||
		!pod.LastSeen.Equal(t0.Add(2*time.Second)) || pod.Destination.Pod != "" || len(pod.DestinationPods) != 1 {
		t.Errorf("pod edge %+v", pod)
	}
	if world.Flows != 1 || len(world.DNSNames) != 1 || world.DNSNames[0] != "api.example.com" || world.DestinationIPs[0] != w.String() {
		t.Errorf("world edge %+v", world)
	}

	// streaming output: deltas add up to the snapshot
	prev := pod
	obs = append(obs, observation{Conn: conn(1002, bpf.DirEgress), First: t0, Last: t0, Verdict: bpf.VerdictAllowed, Conns: 1})
	var now flow.Edge
	for _, e := range buildEdges(obs, view) {
		if edgeID(&e) == edgeID(&prev) {
			now = e
		}
	}
	d, ok := edgeDelta(now, &prev)
	if !ok || d.Flows != 1 || d.ObservedEgress != 1 || d.ObservedIngress != 0 || d.Verdicts.Get(flow.VerdictForwarded) != 1 || d.Verdicts.Get(flow.VerdictAudit) != 0 {
		t.Errorf("delta %+v", d)
	}
	if _, ok := edgeDelta(now, &now); ok {
		t.Error("an unchanged edge gave a delta")
	}
	if d, ok := edgeDelta(prev, &now); ok || d.Flows != 0 {
		t.Errorf("a shrinking edge (evicted flows) gave %+v", d)
	}
}
