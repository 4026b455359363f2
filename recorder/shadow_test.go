package recorder

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

const factsPolicies = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: api}}
  egress:
  - toCIDRSet:
    - cidr: 10.0.0.0/8
      except: [10.1.0.0/16]
    toPorts:
    - ports: [{port: "5000", endPort: 5010, protocol: TCP}]
  - toCIDR: [192.0.2.7/32]
  - toFQDNs: [{matchName: api.example.com}]
    toPorts:
    - ports: [{port: "443", protocol: TCP}]
  ingress:
  - fromEndpoints: [{matchLabels: {app: web}}]
    toPorts:
    - ports: [{port: "8080", protocol: TCP}, {port: http, protocol: TCP}]
`

func loadPolicies(t *testing.T, doc string) ([]*policy.Policy, *policy.Engine) {
	t.Helper()
	ps, err := policy.LoadBytes("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: true})
	if err != nil {
		t.Fatal(err)
	}
	return ps, eng
}

func TestPolicyFacts(t *testing.T) {
	ps, _ := loadPolicies(t, factsPolicies)
	f, err := factsOf(ps)
	if err != nil {
		t.Fatal(err)
	}
	wantPrefixes := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32"),
	}
	if !slices.Equal(f.prefixes, wantPrefixes) {
		t.Errorf("prefixes %v", f.prefixes)
	}
	if want := []uint16{0, 443, 444, 5000, 5011, 8080, 8081}; !slices.Equal(f.breaks, want) {
		t.Errorf("breaks %v, want %v", f.breaks, want)
	}
	if !f.fqdn || f.icmp {
		t.Errorf("fqdn=%v icmp=%v", f.fqdn, f.icmp)
	}
	// representatives: the /8's must avoid the /16 carve-out
	rep, ok := f.representative(netip.MustParsePrefix("10.0.0.0/8"))
	if !ok || !netip.MustParsePrefix("10.0.0.0/8").Contains(rep) || netip.MustParsePrefix("10.1.0.0/16").Contains(rep) {
		t.Errorf("representative of 10/8: %v %v", rep, ok)
	}
	f2 := &policyFacts{prefixes: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/9"), netip.MustParsePrefix("10.128.0.0/9"),
	}}
	if rep, ok := f2.representative(netip.MustParsePrefix("10.0.0.0/8")); ok {
		t.Errorf("fully covered /8 has representative %v", rep)
	}
	if rep, ok := f2.representative(netip.MustParsePrefix("10.128.0.0/9")); !ok || rep != netip.MustParseAddr("10.128.0.0") {
		t.Errorf("leaf representative %v %v", rep, ok)
	}
}

func TestCompileShadow(t *testing.T) {
	ps, eng := loadPolicies(t, factsPolicies)
	facts, err := factsOf(ps)
	if err != nil {
		t.Fatal(err)
	}
	alloc := NewAllocator()
	pod := func(app string) peerClass {
		ls := flow.PodIdentity{Namespace: "shop", PodLabels: map[string]string{"app": app}}.IdentityLabels()
		id := alloc.Pod(ls)
		return peerClass{id: id, ep: flow.Endpoint{Identity: id, Namespace: "shop", Labels: ls}}
	}
	api, web, other := pod("api"), pod("web"), pod("other")
	cidrs, world := worldClasses(facts, alloc, map[netip.Addr][]string{
		netip.MustParseAddr("198.51.100.9"): {"api.example.com"},
	})
	if len(cidrs) != 4 { // three policy prefixes and the DNS-learned /32
		t.Fatalf("cidrs %v", cidrs)
	}
	peers := append([]peerClass{api, web, other}, world...)
	tab := compileShadow(eng, facts, []peerClass{api, web, other}, peers, nil)
	if len(tab.subjects) != 2 {
		t.Errorf("subjects %v: api is selected both ways, web and other not at all", tab.subjects)
	}
	id := func(p netip.Prefix) uint32 { return cidrs[p] }
	has := func(r shadowRow) bool {
		r.Verdict = bpf.VerdictAllowed
		return tab.rows[r]
	}
	wantRows := []shadowRow{
		{Subject: uint32(api.id), Peer: uint32(web.id), Dir: bpf.DirIngress, Proto: bpf.ProtoTCP, Lo: 8080, Hi: 8080},
		{Subject: uint32(api.id), Peer: id(netip.MustParsePrefix("10.0.0.0/8")), Dir: bpf.DirEgress, Proto: bpf.ProtoTCP, Lo: 5000, Hi: 5010},
		// L3-only toCIDR: every port and protocol
		{Subject: uint32(api.id), Peer: id(netip.MustParsePrefix("192.0.2.7/32")), Dir: bpf.DirEgress, Proto: bpf.ProtoUDP, Lo: 0, Hi: 65535},
		{Subject: uint32(api.id), Peer: id(netip.MustParsePrefix("192.0.2.7/32")), Dir: bpf.DirEgress, Proto: bpf.ProtoICMP, Lo: 0, Hi: 255},
		{Subject: uint32(api.id), Peer: id(netip.MustParsePrefix("198.51.100.9/32")), Dir: bpf.DirEgress, Proto: bpf.ProtoTCP, Lo: 443, Hi: 443},
	}
	for _, r := range wantRows {
		if !has(r) {
			t.Errorf("missing row %+v", r)
		}
	}
	// the carve-out is not allowed, nor other pods, nor web's other ports
	for _, r := range []shadowRow{
		{Subject: uint32(api.id), Peer: id(netip.MustParsePrefix("10.1.0.0/16")), Dir: bpf.DirEgress, Proto: bpf.ProtoTCP, Lo: 5000, Hi: 5010},
		{Subject: uint32(api.id), Peer: uint32(other.id), Dir: bpf.DirIngress, Proto: bpf.ProtoTCP, Lo: 8080, Hi: 8080},
	} {
		if has(r) {
			t.Errorf("unexpected row %+v", r)
		}
	}
	// every row agrees with the evaluator at both ends of its range
	byID := map[uint32]peerClass{}
	for _, p := range peers {
		byID[uint32(p.id)] = p
	}
	protos := map[uint8]flow.Protocol{bpf.ProtoTCP: flow.ProtoTCP, bpf.ProtoUDP: flow.ProtoUDP, bpf.ProtoSCTP: flow.ProtoSCTP, bpf.ProtoICMP: flow.ProtoICMP, bpf.ProtoICMPv6: flow.ProtoICMPv6}
	for r := range tab.rows {
		for _, port := range []uint16{r.Lo, r.Hi} {
			f := evalFlow(byID[r.Subject], byID[r.Peer], r.Dir, protos[r.Proto], port)
			if d := decide(eng, &f, r.Dir); d != policy.Allowed {
				t.Errorf("row %+v at port %d: evaluator says %v", r, port, d)
			}
		}
		if r.Lo > 0 {
			f := evalFlow(byID[r.Subject], byID[r.Peer], r.Dir, protos[r.Proto], r.Lo-1)
			if d := decide(eng, &f, r.Dir); d == policy.Allowed && !tab.rows[shadowRow{r.Subject, r.Peer, r.Dir, r.Proto, 0, r.Lo - 1, r.Verdict}] {
				// a neighbouring allowed interval would have been merged
				t.Errorf("row %+v: port %d below is allowed too but not merged", r, r.Lo-1)
			}
		}
	}
}

// BenchmarkCompileShadow: 20 selected local identities against 500 peer
// identities and the policy classes of factsPolicies.
func BenchmarkCompileShadow(b *testing.B) {
	ps, err := policy.LoadBytes("test.yaml", []byte(factsPolicies))
	if err != nil {
		b.Fatal(err)
	}
	eng, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: true})
	if err != nil {
		b.Fatal(err)
	}
	facts, err := factsOf(ps)
	if err != nil {
		b.Fatal(err)
	}
	alloc := NewAllocator()
	mk := func(labels map[string]string) peerClass {
		ls := flow.PodIdentity{Namespace: "shop", PodLabels: labels}.IdentityLabels()
		id := alloc.Pod(ls)
		return peerClass{id: id, ep: flow.Endpoint{Identity: id, Namespace: "shop", Labels: ls}}
	}
	var subjects, peers []peerClass
	for i := range 20 {
		s := mk(map[string]string{"app": "api", "version": strconv.Itoa(i)})
		subjects = append(subjects, s)
		peers = append(peers, s)
	}
	for i := range 500 {
		peers = append(peers, mk(map[string]string{"app": "p" + strconv.Itoa(i)}))
	}
	_, world := worldClasses(facts, alloc, nil)
	peers = append(peers, world...)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			tab := compileShadow(eng, facts, subjects, peers, nil)
			if len(tab.subjects) != 40 {
				b.Fatalf("%d subjects", len(tab.subjects))
			}
		}
	})
	// a pod with a new identity appears: only its pairs are evaluated
	b.Run("one-new-peer", func(b *testing.B) {
		var cache shadowCache
		compileShadow(eng, facts, subjects, peers, &cache)
		i := 0
		for b.Loop() {
			i++
			more := append(peers[:len(peers):len(peers)], mk(map[string]string{"app": "new" + strconv.Itoa(i)}))
			compileShadow(eng, facts, subjects, more, &cache)
		}
	})
}

// TestShadowCacheMatchesFullCompile: compiling with a warm cache after
// adding and removing peers gives the same table as compiling afresh.
func TestShadowCacheMatchesFullCompile(t *testing.T) {
	ps, eng := loadPolicies(t, factsPolicies)
	facts, err := factsOf(ps)
	if err != nil {
		t.Fatal(err)
	}
	alloc := NewAllocator()
	mk := func(app string) peerClass {
		ls := flow.PodIdentity{Namespace: "shop", PodLabels: map[string]string{"app": app}}.IdentityLabels()
		id := alloc.Pod(ls)
		return peerClass{id: id, ep: flow.Endpoint{Identity: id, Namespace: "shop", Labels: ls}}
	}
	api, web, other := mk("api"), mk("web"), mk("other")
	var cache shadowCache
	compileShadow(eng, facts, []peerClass{api}, []peerClass{api, other}, &cache)
	got := compileShadow(eng, facts, []peerClass{api, web}, []peerClass{api, web}, &cache)
	want := compileShadow(eng, facts, []peerClass{api, web}, []peerClass{api, web}, nil)
	if !maps.Equal(got.rows, want.rows) || !maps.Equal(got.subjects, want.subjects) {
		t.Fatalf("cached compile differs:\n got %v\nwant %v", got.rows, want.rows)
	}
	if len(cache.pairs) != 4 { // api with api and web, both directions; web is not selected
		t.Errorf("cache keeps %d pairs, want only the 4 in use", len(cache.pairs))
	}
	// a new policy set (engine) starts over
	_, eng2 := loadPolicies(t, factsPolicies)
	compileShadow(eng2, facts, []peerClass{api}, []peerClass{api}, &cache)
	if cache.eng != eng2 || len(cache.pairs) != 2 {
		t.Errorf("cache not reset for a new engine: %d pairs", len(cache.pairs))
	}
}
