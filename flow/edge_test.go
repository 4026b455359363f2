package flow

import "testing"

func TestEdgeKeyOutsideCluster(t *testing.T) {
	cidr := func(id Identity, ls ...string) *Flow {
		return &Flow{Protocol: ProtoTCP, DstPort: 443, Source: Endpoint{Identity: IdentityHost, Labels: ReservedLabels(IdentityHost)},
			Destination: Endpoint{Identity: id, Labels: NewLabels(ls...)}}
	}
	// One prefix, two nodes' local identity numbers: one edge.
	a := cidr(IdentityMinLocal+1, "cidr:192.0.2.0/24", "cidr:192.0.2.7/32", "reserved:world")
	b := cidr(IdentityMinLocal+9, "cidr:192.0.2.7/32", "reserved:world")
	if EdgeKey(a) != EdgeKey(b) {
		t.Errorf("same prefix, different keys: %q %q", EdgeKey(a), EdgeKey(b))
	}
	if c := cidr(IdentityMinLocal+1, "cidr:192.0.2.8/32"); EdgeKey(c) == EdgeKey(a) {
		t.Error("different prefixes share a key")
	}
	// A known name wins, and the smallest of several names stands for them.
	n1, n2 := cidr(IdentityWorld), cidr(IdentityWorld)
	n1.Destination.Names = []string{"b.example.com", "a.example.com"}
	n2.Destination.Names = []string{"a.example.com"}
	if EdgeKey(n1) != EdgeKey(n2) {
		t.Errorf("names: %q %q", EdgeKey(n1), EdgeKey(n2))
	}
	if EdgeKey(n1) == EdgeKey(cidr(IdentityWorld)) {
		t.Error("named and unnamed world share a key")
	}
}

func TestAggregatorMerge(t *testing.T) {
	f := Flow{Protocol: ProtoUDP, DstPort: 53, Direction: DirectionEgress, Verdict: VerdictForwarded,
		Source:      Endpoint{Identity: 300, Namespace: "shop", Pod: "web-0", Labels: NewLabels("k8s:app=web", "k8s:io.kubernetes.pod.namespace=shop")},
		Destination: Endpoint{Identity: 400, Namespace: "kube-system", Pod: "dns-0", Labels: NewLabels("k8s:app=dns", "k8s:io.kubernetes.pod.namespace=kube-system")},
		DNS:         &DNS{Query: "api.example.com."}}
	a := NewAggregator()
	a.Add(&f)
	a.Observe(&f, Counts{}) // a repeat: evidence, no count
	r := f
	r.IsReply = true
	a.Add(&r)
	es := a.Edges()
	if len(es) != 1 || es[0].Flows != 1 || es[0].ObservedEgress != 1 || a.Replies != 1 || es[0].DNSQueries[0] != "api.example.com" {
		t.Fatalf("edges %+v replies %d", es, a.Replies)
	}
	m := NewAggregator()
	m.Merge(&es[0])
	m.Merge(&es[0])
	got := m.Edges()
	if len(got) != 1 || got[0].Flows != 2 || got[0].Verdicts.Get(VerdictForwarded) != 2 || len(got[0].SourcePods) != 1 {
		t.Fatalf("merged %+v", got)
	}
}
