package conformance

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// seedPods invents, for every endpoint selector in the policies, a pod it
// selects (matchLabels, the first value of an In expression), in the
// namespace the selector names or else the policy's own, so that the seed
// policies have subjects and peers to decide on.
func seedPods(ps []*policy.Policy) []PodSpec {
	var out []PodSpec
	add := func(ns string, es *policy.EndpointSelector) {
		if es == nil {
			return
		}
		pod := PodSpec{Namespace: ns, ServiceAccount: "default", Labels: map[string]string{}, NamespaceLabels: map[string]string{}}
		set := func(k, v string) {
			k = strings.TrimPrefix(strings.TrimPrefix(k, "k8s:"), "any:")
			switch {
			case strings.HasPrefix(k, "reserved:"):
			case k == flow.LabelNamespace:
				pod.Namespace = v
			case strings.HasPrefix(k, flow.LabelNamespacePrefix):
				pod.NamespaceLabels[strings.TrimPrefix(k, flow.LabelNamespacePrefix)] = v
			case k == flow.LabelServiceAccount:
				pod.ServiceAccount = v
			case k == flow.LabelCluster:
			default:
				pod.Labels[k] = v
			}
		}
		for k, v := range es.MatchLabels {
			set(k, v)
		}
		for _, r := range es.MatchExpressions {
			if r.Operator == policy.OpIn && len(r.Values) > 0 {
				set(r.Key, r.Values[0])
			} else if r.Operator == policy.OpExists {
				set(r.Key, "x")
			}
		}
		if pod.Namespace == "" {
			pod.Namespace = "default"
		}
		out = append(out, pod)
	}
	for _, p := range ps {
		ns := p.Metadata.Namespace
		for _, r := range p.Rules() {
			add(ns, r.EndpointSelector)
			for _, in := range r.Ingress {
				for i := range in.FromEndpoints {
					add(ns, &in.FromEndpoints[i])
				}
			}
			for _, in := range r.IngressDeny {
				for i := range in.FromEndpoints {
					add(ns, &in.FromEndpoints[i])
				}
			}
			for _, eg := range r.Egress {
				for i := range eg.ToEndpoints {
					add(ns, &eg.ToEndpoints[i])
				}
			}
			for _, eg := range r.EgressDeny {
				for i := range eg.ToEndpoints {
					add(ns, &eg.ToEndpoints[i])
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Namespace < out[j].Namespace })
	return out
}

var seedPorts = []struct {
	proto flow.Protocol
	port  uint16
}{{flow.ProtoUDP, 53}, {flow.ProtoTCP, 53}, {flow.ProtoTCP, 80}, {flow.ProtoTCP, 443}, {flow.ProtoTCP, 8080}, {flow.ProtoSCTP, 9080}}

// TestDifferentialSeeds compares the engines on every seed example that is
// a whole CNP or CCNP and that Cilium accepts, one file at a time and all
// together, over every pair of endpoints and a set of ports.
func TestDifferentialSeeds(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "seeds", "examples")
	var files []string
	var all []*policy.Policy
	sets := map[string][]*policy.Policy{}
	for name, ok := range seedVerdicts {
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ps, err := policy.LoadBytes(name, data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ps) == 0 {
			t.Fatalf("%s: no policy loaded", name)
		}
		files = append(files, name)
		sets[name] = ps
		all = append(all, ps...)
	}
	// Fragments (a bare spec, an ingress or egress list, a toPorts list)
	// are wrapped into policies by posture's loader and placed in the
	// "default" namespace; those Cilium refuses (07 uses fromRequires)
	// are left out.
	frags, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	jsonFrags, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	frags = append(frags, jsonFrags...)
	for _, file := range frags {
		name := filepath.Base(file)
		if _, whole := seedVerdicts[name]; whole {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		ps, err := policy.LoadFragment(name, data)
		if err != nil || len(ps) == 0 {
			continue // a Deployment, or nothing to wrap
		}
		var ok []*policy.Policy
		for _, p := range ps {
			if p.Metadata.Namespace == "" && !p.Clusterwide() {
				p.Metadata.Namespace = "default"
			}
			if p.Metadata.Name == "" {
				p.Metadata.Name = strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".json")
			}
			if _, err := ParseWithCilium(p); err != nil {
				t.Logf("%s: left out, Cilium refuses it: %v", name, err)
				continue
			}
			ok = append(ok, p)
		}
		if len(ok) > 0 {
			files = append(files, name)
			sets[name] = ok
			all = append(all, ok...)
		}
	}
	sort.Strings(files)
	sets["all seeds"] = all
	files = append(files, "all seeds")

	u := NewUniverseWith(append(append([]PodSpec{}, DefaultPods...), seedPods(all)...))
	var flows []flow.Flow
	for _, src := range u.Peers {
		for _, dst := range u.Peers {
			if !Enforcing(&src.Endpoint) && !Enforcing(&dst.Endpoint) {
				continue
			}
			for _, pp := range seedPorts {
				flows = append(flows, flow.Flow{Source: src.Endpoint, Destination: dst.Endpoint, Protocol: pp.proto, DstPort: pp.port, SrcPort: 40000})
			}
		}
	}
	compared := 0
	ty := newTally(t, u)
	for _, name := range files {
		ps := sets[name]
		ce, err := NewCiliumEngine(u, ps)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pe, err := NewPostureEngine(ps)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range flows {
			ds, err := compareWith(ce, pe, ps, &flows[i])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			compared += enforcedDirections(&flows[i])
			for _, d := range ds {
				ty.add(name, d)
			}
		}
	}
	ty.finish()
	t.Logf("%d seed policy sets, %d endpoints, %d directions compared, %d new and %d known disagreements", len(files), len(u.Peers), compared, ty.failures, ty.expected)
}

// TestDifferentialDetectsMutations proves the comparison can fail: posture
// compiled with semantics Cilium does not have here (every policy as
// enforced; no allow-localhost) must disagree with Cilium somewhere on the
// generated cases.
func TestDifferentialDetectsMutations(t *testing.T) {
	u := NewUniverse()
	cases := generateCases(u, 3000)
	for _, m := range []struct {
		name string
		opts policy.CompileOptions
	}{
		{"as-enforced", policy.CompileOptions{ClusterName: ClusterName, AsEnforced: true}},
		{"no-allow-localhost", policy.CompileOptions{ClusterName: ClusterName, DisallowLocalhost: true}},
	} {
		found := 0
		for _, c := range cases {
			ce, err := NewCiliumEngine(u, c.Policies)
			if err != nil {
				t.Fatal(err)
			}
			pe, err := NewPostureEngineWith(c.Policies, m.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.Flows {
				ds, err := compareWith(ce, pe, c.Policies, &c.Flows[i])
				if err != nil {
					t.Fatal(err)
				}
				found += len(ds)
			}
		}
		if found == 0 {
			t.Errorf("%s: a mutated evaluator agreed with Cilium on all %d cases: the comparison cannot fail", m.name, len(cases))
		}
		t.Logf("%s: %d disagreements found, as expected", m.name, found)
	}
}
