package recorder

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseEndpoints(t *testing.T) {
	eps, err := ParseEndpoints("eps.yaml", []byte(`endpoints:
- namespace: shop
  pod: web-1
  ips: [10.0.0.5, "fd00::5", "::ffff:10.0.0.6"]
  labels: {app: web}
  namespaceLabels: {team: a}
  serviceAccount: web
  interface: lxc123
- namespace: shop
  pod: db-0
  ips: [10.0.0.7]
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].Interface != "lxc123" || eps[1].Interface != "" {
		t.Fatalf("%+v", eps)
	}
	if eps[0].IPs[2] != netip.MustParseAddr("10.0.0.6") {
		t.Errorf("mapped IPv4 not unmapped: %v", eps[0].IPs)
	}
	want := "k8s:app=web,k8s:io.cilium.k8s.namespace.labels.team=a,k8s:io.cilium.k8s.policy.serviceaccount=web,k8s:io.kubernetes.pod.namespace=shop"
	if got := eps[0].IdentityLabels().Key(); got != want {
		t.Errorf("identity labels\n got %s\nwant %s", got, want)
	}
	if eps, err := ParseEndpoints("empty.yaml", nil); err != nil || eps != nil {
		t.Errorf("empty file: %v %v", eps, err)
	}
}

func TestParseEndpointsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field", "endpoints:\n- namespace: a\n  pod: b\n  ips: [10.0.0.1]\n  lables: {}\n", "eps.yaml:5: field lables not found"},
		{"bad ip", "endpoints:\n- namespace: a\n  pod: b\n  ips: [10.0.0.1]\n- namespace: a\n  pod: c\n  ips: [10.0.0.300]\n", "eps.yaml:5: endpoints[1].ips[0]: \"10.0.0.300\" is not an IP address"},
		{"missing pod", "endpoints:\n- namespace: a\n  ips: [10.0.0.1]\n", "eps.yaml:2: endpoints[0].pod: required"},
		{"no ips", "endpoints:\n- namespace: a\n  pod: b\n", "eps.yaml:2: endpoints[0].ips: at least one address"},
		{"duplicate ip", "endpoints:\n- namespace: a\n  pod: b\n  ips: [10.0.0.1]\n- namespace: a\n  pod: c\n  ips: [10.0.0.1]\n", "eps.yaml:5: endpoints[1].ips[0]: 10.0.0.1 already belongs to a/b"},
		{"duplicate pod", "endpoints:\n- namespace: a\n  pod: b\n  ips: [10.0.0.1]\n- namespace: a\n  pod: b\n  ips: [10.0.0.2]\n", "eps.yaml:5: endpoints[1].pod: a/b listed twice"},
		{"bad interface", "endpoints:\n- namespace: a\n  pod: b\n  ips: [10.0.0.1]\n  interface: ../../etc\n", "eps.yaml:2: endpoints[0].interface"},
		{"not yaml", "endpoints: [", "eps.yaml: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEndpoints("eps.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
