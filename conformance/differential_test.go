package conformance

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/posture-dev/posture/flow"
)

var casesFlag = flag.Int("conformance.cases", 0, "number of (policy set, flow) cases for the differential test (default 10000, or $POSTURE_CONFORMANCE_CASES)")

// flowsPerSet is how many flows are asked of each generated policy set.
const flowsPerSet = 8

func numCases(t testing.TB) int {
	if *casesFlag > 0 {
		return *casesFlag
	}
	if v := os.Getenv("POSTURE_CONFORMANCE_CASES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("POSTURE_CONFORMANCE_CASES=%q: want a positive number", v)
		}
		return n
	}
	return 10000
}

// generateCases draws policy sets with a fixed seed until n flows exist.
func generateCases(u *Universe, n int) []Case {
	var out []Case
	for seed, total := uint64(1), 0; total < n; seed++ {
		c := NewGenerator(u, seed).Case(seed, min(flowsPerSet, n-total))
		out = append(out, c)
		total += len(c.Flows)
	}
	return out
}

// TestDifferential is the conformance test of posture's evaluator: the
// same generated policy sets and flows through Cilium's LookupFlow and
// posture's Evaluate must give the same verdict in every direction Cilium
// enforces. Disagreements are shrunk and printed as YAML reproducers.
func TestDifferential(t *testing.T) {
	u := NewUniverse()
	cases := generateCases(u, numCases(t))
	flows, compared, allowed, denied := 0, 0, 0, 0
	ty := newTally(t, u)
	for _, c := range cases {
		ce, err := NewCiliumEngine(u, c.Policies)
		if err != nil {
			t.Fatalf("%s: cilium: %v\n%s", c, err, casePolicyYAML(c.Policies))
		}
		pe, err := NewPostureEngine(c.Policies)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, casePolicyYAML(c.Policies))
		}
		for i := range c.Flows {
			f := &c.Flows[i]
			flows++
			compared += enforcedDirections(f)
			ds, err := compareWith(ce, pe, c.Policies, f)
			if err != nil {
				t.Fatalf("%s flow %d: %v", c, i, err)
			}
			cv, _ := ce.Lookup(f)
			for _, d := range []struct{ enforced, ok bool }{{Enforcing(&f.Source), cv.Egress}, {Enforcing(&f.Destination), cv.Ingress}} {
				switch {
				case !d.enforced:
				case d.ok:
					allowed++
				default:
					denied++
				}
			}
			for _, d := range ds {
				ty.add(fmt.Sprintf("%s flow %d", c, i), d)
			}
		}
	}
	ty.finish()
	// A generator that only ever produces one verdict tests nothing.
	if allowed < compared/10 || denied < compared/10 {
		t.Errorf("verdicts are lopsided: %d allowed, %d denied of %d directions", allowed, denied, compared)
	}
	if flows < numCases(t) {
		t.Fatalf("only %d flows generated", flows)
	}
	t.Logf("%d (policy set, flow) cases over %d policy sets, %d directions compared (Cilium: %d allowed, %d denied), %d new and %d known disagreements", flows, len(cases), compared, allowed, denied, ty.failures, ty.expected)
}

// TestDifferentialDualStack repeats the comparison with the agent in dual
// stack: world addresses are reserved:world-ipv4/-ipv6, 0.0.0.0/0 and
// ::/0 select only their family, and IPv6 CIDRs join the generator.
func TestDifferentialDualStack(t *testing.T) {
	SetDualStack(true)
	defer SetDualStack(false)
	u := NewUniverse()
	v4, _ := u.PeerByIdentity(flow.IdentityMinLocal + 7) // 8.8.8.8
	v6, _ := u.PeerByIdentity(flow.IdentityMinLocal + 8) // 2001:db8::5
	if !v4.Endpoint.Labels.Has("reserved", "world-ipv4") || !v6.Endpoint.Labels.Has("reserved", "world-ipv6") {
		t.Fatalf("not in dual stack: %s has %v, %s has %v", v4.Endpoint.IP, v4.Endpoint.Labels, v6.Endpoint.IP, v6.Endpoint.Labels)
	}
	s := loadSchemas(t)
	ty := newTally(t, u)
	n := max(numCases(t)/2, 1000)
	compared := 0
	for j, c := range generateCases(u, n) {
		if j < 100 {
			for _, p := range c.Policies {
				checkAccepted(t, s, c.String(), p)
			}
		}
		ce, err := NewCiliumEngine(u, c.Policies)
		if err != nil {
			t.Fatalf("%s: cilium: %v\n%s", c, err, casePolicyYAML(c.Policies))
		}
		pe, err := NewPostureEngine(c.Policies)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		for i := range c.Flows {
			ds, err := compareWith(ce, pe, c.Policies, &c.Flows[i])
			if err != nil {
				t.Fatal(err)
			}
			compared += enforcedDirections(&c.Flows[i])
			for _, d := range ds {
				ty.add(fmt.Sprintf("dual stack %s flow %d", c, i), d)
			}
		}
	}
	ty.finish()
	t.Logf("dual stack: %d cases, %d directions compared, %d new and %d known disagreements", n, compared, ty.failures, ty.expected)
}
