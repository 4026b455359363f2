package policy

import (
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// benchPolicies writes n varied policies over 20 namespaces as one
// multi-document YAML stream.
func benchPolicies(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata:
  name: p-%d
  namespace: ns-%d
spec:
  endpointSelector:
    matchLabels: {app: svc-%d}
  ingress:
  - fromEndpoints:
    - matchLabels: {app: svc-%d, io.kubernetes.pod.namespace: ns-%d}
    toPorts:
    - ports: [{port: "%d", protocol: TCP}]
      rules:
        http: [{method: GET, path: "^/api/v%d/.*$"}]
  egress:
  - toEndpoints:
    - matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
      rules: {dns: [{matchPattern: "*.example.com"}]}
  - toFQDNs: [{matchName: api%d.example.com}]
    toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  - toCIDRSet: [{cidr: 10.%d.0.0/16, except: [10.%d.1.0/24]}]
`, i, i%20, i, i+1, (i+1)%20, 1024+i%1000, i%3, i, i%256, i%256)
	}
	return []byte(b.String())
}

// BenchmarkLoad compares posture's strict loader (node walk with
// positions, then encoding/json) with the baseline a kubectl-style reader
// does: sigs.k8s.io/yaml strict decoding of each document, which reports
// unknown fields but no lines.
func BenchmarkLoad(b *testing.B) {
	data := benchPolicies(1000)
	b.Run("posture/1000", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			ps, err := LoadBytes("bench.yaml", data)
			if err != nil || len(ps) != 1000 {
				b.Fatal(err, len(ps))
			}
		}
	})
	b.Run("sigs-yaml-strict/1000", func(b *testing.B) {
		docs := strings.Split(string(data), "---\n")[1:]
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			for _, d := range docs {
				var p Policy
				if err := yaml.UnmarshalStrict([]byte(d), &p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

func BenchmarkLint(b *testing.B) {
	ps, err := LoadBytes("bench.yaml", benchPolicies(1000))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("validate/1000", func(b *testing.B) {
		for b.Loop() {
			for _, p := range ps {
				if err := Validate(p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("lint/1000", func(b *testing.B) {
		for b.Loop() {
			Lint(ps)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	ps, err := LoadBytes("bench.yaml", benchPolicies(1000))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Marshal(ps); err != nil {
			b.Fatal(err)
		}
	}
}
