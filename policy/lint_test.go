package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// lintDoc builds a CNP in namespace ns from a spec body (two-space indent).
func lintDoc(ns, name, body string) string {
	return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\nspec:\n" + body
}

const dnsRule = `  - toEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}}]
    toPorts:
    - ports: [{port: "53", protocol: ANY}]
      rules: {dns: [{matchPattern: "*.example.com"}]}
`

// proxyRule is an egress rule to app=proxy on one port with L7 rules.
func proxyRule(port, proto, rules string) string {
	return "  - toEndpoints: [{matchLabels: {app: proxy}}]\n    toPorts:\n    - ports: [{port: \"" + port + "\", protocol: " + proto + "}]\n      rules: {" + rules + "}\n"
}

func TestLintRules(t *testing.T) {
	cases := []struct {
		name string
		docs []string
		want string // "severity rule@line" that must appear, or "" for none of rule
		rule string // rule that must not appear when want is ""
	}{
		{"namespace label in clusterwide selector", []string{"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c}\nspec:\n  endpointSelector: {matchLabels: {\"k8s:kubernetes.io/metadata.name\": jobs}}\n  ingress: [{fromEntities: [cluster]}]\n"},
			"error namespace-label-as-pod-label@5", ""},
		{"namespace label with the right prefix", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{matchLabels: {io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name: jobs}}]\n")},
			"", RuleNamespaceLabel},
		{"namespace label in matchExpressions", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [jobs]}]}]\n")},
			"error namespace-label-as-pod-label@9", ""},
		{"endpointSelector names another namespace", []string{lintDoc("a", "p", "  endpointSelector: {matchLabels: {io.kubernetes.pod.namespace: b}}\n  ingress: [{fromEndpoints: [{}]}]\n")},
			"error endpoint-selector-other-namespace@7", ""},
		{"endpointSelector names its own namespace", []string{lintDoc("a", "p", "  endpointSelector: {matchLabels: {\"k8s:io.kubernetes.pod.namespace\": a}}\n  ingress: [{fromEndpoints: [{}]}]\n")},
			"", RuleOtherNamespace},
		{"toFQDNs without any DNS rule", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: api.example.com}]\n    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n")},
			"warning fqdn-without-dns-proxy@9", ""},
		{"toFQDNs with DNS in another policy of the namespace", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchPattern: \"*.example.com\"}]\n"),
			lintDoc("a", "dns", "  endpointSelector: {}\n  egress:\n"+dnsRule)},
			"", RuleFQDNWithoutDNS},
		{"toFQDNs with DNS in another namespace only", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: api.example.com}]\n"),
			lintDoc("b", "dns", "  endpointSelector: {}\n  egress:\n"+dnsRule)},
			"warning fqdn-without-dns-proxy@9", ""},
		{"toFQDNs name the DNS rule does not cover", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: api.other.org}]\n"+dnsRule)},
			"warning fqdn-without-dns-proxy@9", ""},
		{"DNS on ANY", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+dnsRule)},
			"", RuleDNSUDPOnly},
		{"DNS on UDP and TCP", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: UDP}, {port: \"53\", protocol: TCP}]\n      rules: {dns: [{matchPattern: \"*\"}]}\n")},
			"", RuleDNSUDPOnly},
		{"DNS on another port", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"5353\", protocol: ANY}]\n      rules: {dns: [{matchPattern: \"*\"}]}\n")},
			"warning dns-non-standard-port@10", ""},
		{"unanchored path", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: TCP}]\n      rules: {http: [{path: /public}]}\n")},
			"warning unanchored-regex@11", ""},
		{"anchored path", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: TCP}]\n      rules: {http: [{path: \"^/public/.*$\", method: GET}]}\n")},
			"", RuleUnanchoredRegex},
		{"world without ports", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEntities: [world]\n")},
			"warning broad-entity@9", ""},
		{"remote-node egress without ports", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toEntities: [cluster, remote-node]\n")},
			"warning broad-entity@9", ""},
		{"world with ports", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEntities: [world]\n    toPorts: [{ports: [{port: \"443\", protocol: TCP}]}]\n")},
			"", RuleBroadEntity},
		{"deny world is fine", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egressDeny:\n  - toEntities: [world]\n")},
			"", RuleBroadEntity},
		{"duplicate rule entry", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{matchLabels: {app: web}}]\n  - fromEndpoints: [{matchLabels: {app: web}}]\n")},
			"warning duplicate-rule@10", ""},
		{"duplicate peer", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromCIDR: [10.0.0.0/8, 10.0.0.0/8]\n")},
			"warning duplicate-rule@9", ""},
		{"duplicate policy name", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n"), lintDoc("a", "p", "  endpointSelector: {}\n  egress: [{toEntities: [cluster]}]\n")},
			"error duplicate-policy@13", ""},
		{"same name in other namespaces", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n"), lintDoc("b", "p", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n")},
			"", RuleDuplicatePolicy},
		{"same rules under two names", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n"), lintDoc("a", "q", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}]}]\n")},
			"warning duplicate-rule@15", ""},
		{"deny-only ingress", []string{lintDoc("a", "p", "  endpointSelector: {matchLabels: {app: api}}\n  ingressDeny: [{fromEntities: [world]}]\n")},
			"warning deny-only-default-deny@8", ""},
		{"deny-only with allows elsewhere", []string{
			lintDoc("a", "p", "  endpointSelector: {matchLabels: {app: api}}\n  ingressDeny: [{fromEntities: [world]}]\n"),
			lintDoc("a", "q", "  endpointSelector: {matchLabels: {app: api}}\n  ingress: [{fromEndpoints: [{}]}]\n")},
			"", RuleDenyOnlyDefaultDeny},
		{"deny-only with default deny off", []string{lintDoc("a", "p", "  endpointSelector: {}\n  enableDefaultDeny: {ingress: false}\n  ingressDeny: [{fromEntities: [world]}]\n")},
			"", RuleDenyOnlyDefaultDeny},
		{"egress without DNS, one workload", []string{lintDoc("a", "p", "  endpointSelector: {matchLabels: {app: api}}\n  egress: [{toEndpoints: [{matchLabels: {app: db}}]}]\n")},
			"info egress-default-deny-without-dns@8", ""},
		{"egress with DNS to kube-dns", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n"+dnsRule)},
			"", RuleEgressWithoutDNS},
		{"egress to cluster covers DNS", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress: [{toEntities: [cluster]}]\n")},
			"", RuleEgressWithoutDNS},
		{"egress with default deny off", []string{lintDoc("a", "p", "  endpointSelector: {}\n  enableDefaultDeny: {egress: false}\n  egress: [{toEndpoints: [{}]}]\n")},
			"", RuleEgressWithoutDNS},
		{"DNS on TCP only does not count", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toEndpoints: [{matchLabels: {k8s-app: kube-dns, io.kubernetes.pod.namespace: kube-system}}]\n    toPorts: [{ports: [{port: \"53\", protocol: TCP}]}]\n")},
			"warning egress-default-deny-without-dns@8", ""},
		{"host policy on one node", []string{"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: h}\nspec:\n  nodeSelector: {matchLabels: {kubernetes.io/hostname: n1}}\n  ingress: [{fromEntities: [cluster]}]\n"},
			"", RuleHostAllNodes},
		{"host policy on all nodes", []string{"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: h}\nspec:\n  nodeSelector: {}\n  ingress: [{fromEntities: [cluster]}]\n"},
			"warning host-policy-all-nodes@5", ""},
		{"egress in the named direction", []string{lintDoc("a", "allow-web-to-api", "  endpointSelector: {matchLabels: {app: web}}\n  egress: [{toEndpoints: [{matchLabels: {app: api}}], toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]}]\n")},
			"", RuleDirection},
		{"egress against the named direction", []string{lintDoc("a", "allow-web-to-api", "  endpointSelector: {matchLabels: {app: api}}\n  egress: [{toEndpoints: [{matchLabels: {app: web}}], toPorts: [{ports: [{port: \"80\", protocol: TCP}]}]}]\n")},
			"warning direction-mismatch@8", ""},
		{"clusterwide with namespace", []string{"apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c, namespace: x}\nspec: {endpointSelector: {}, ingress: [{fromEntities: [cluster]}]}\n"},
			"warning clusterwide-namespace@3", ""},
		{"empty ingress rule", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress: [{}]\n")},
			"info allows-nothing@8", ""},
		{"namespace-only ingress", []string{lintDoc("shop", "p", "  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{}]\n")},
			"info namespace-only-ingress@8", ""},
		{"namespace-wide ingress from another namespace", []string{lintDoc("shop", "p", "  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{}]\n  - fromEndpoints: [{matchLabels: {io.kubernetes.pod.namespace: ingress-nginx}}]\n")},
			"", RuleNamespaceIsolated},
		{"octal port", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"010\", protocol: TCP}]}]\n")},
			"warning odd-port-number@9", ""},
		{"decimal port", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"10\", protocol: TCP}]}]\n")},
			"", RulePortNumber},
		{"ICMP type out of range", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - icmps: [{fields: [{type: 300}]}]\n")},
			"warning icmp-type-range@9", ""},
		{"toServices naming nothing", []string{lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n  - toServices: [{}]\n")},
			"warning to-services-selector@9", ""},
		{"fromNodes", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromNodes: [{}]\n")},
			"warning node-selector-labels@9", ""},
		{"fromRequires", []string{lintDoc("a", "p", "  endpointSelector: {}\n  ingress: [{fromEndpoints: [{}], fromRequires: [{matchLabels: {env: prod}}]}]\n")},
			"warning deprecated-requires@8", ""},
		{"HTTP and DNS rules for one peer and port, two policies", []string{
			lintDoc("a", "dns", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")),
			lintDoc("a", "web", "  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"+proxyRule("53", "TCP", "http: [{method: GET}]"))},
			"error l7-parser-conflict@25", ""},
		{"HTTP and DNS rules for one peer and port in one policy", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")+proxyRule("53", "TCP", "http: [{method: GET}]"))},
			"error l7-parser-conflict@16", ""},
		{"HTTP on a port range holding the DNS port", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")+
				"  - toEndpoints: [{matchLabels: {app: proxy}}]\n    toPorts:\n    - ports: [{port: \"50\", endPort: 60, protocol: TCP}]\n      rules: {http: [{method: GET}]}\n")},
			"", RuleL7Conflict},
		{"HTTP and DNS rules for one peer on other ports", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")+proxyRule("8080", "TCP", "http: [{method: GET}]"))},
			"", RuleL7Conflict},
		{"HTTP and DNS rules for other peers on one port", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")+
				"  - toEndpoints: [{matchLabels: {app: other}}]\n    toPorts:\n    - ports: [{port: \"53\", protocol: TCP}]\n      rules: {http: [{method: GET}]}\n")},
			"", RuleL7Conflict},
		{"HTTP and DNS rules for one peer and port, on UDP and TCP", []string{
			lintDoc("a", "p", "  endpointSelector: {}\n  egress:\n"+proxyRule("53", "UDP", "dns: [{matchPattern: \"*\"}]")+proxyRule("53", "TCP", "http: [{method: GET}]"))},
			"", RuleL7Conflict},
		{"HTTP and DNS rules for one peer and port, subjects apart", []string{
			lintDoc("a", "dns", "  endpointSelector: {matchLabels: {app: api}}\n  egress:\n"+proxyRule("53", "ANY", "dns: [{matchPattern: \"*\"}]")),
			lintDoc("a", "web", "  endpointSelector: {matchLabels: {app: web}}\n  egress:\n"+proxyRule("53", "TCP", "http: [{method: GET}]"))},
			"", RuleL7Conflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := LintBytes("t.yaml", []byte(strings.Join(c.docs, "---\n")))
			found := false
			for _, f := range rep.Findings {
				if f.Severity == SeverityError && c.want == "" && f.Rule != RuleNamespaceLabel {
					t.Errorf("unexpected error finding: %+v", f)
				}
				if c.want != "" && string(f.Severity)+" "+f.Rule+"@"+strconv.Itoa(f.Line) == c.want {
					found = true
				}
				if c.want == "" && f.Rule == c.rule {
					t.Errorf("unexpected %s finding: %s", c.rule, describeFindings([]Finding{f}))
				}
			}
			if c.want != "" && !found {
				t.Errorf("want %s, got\n%s", c.want, describeFindings(rep.Findings))
			}
		})
	}
}

func TestLintHintsAndPositions(t *testing.T) {
	rep := LintBytes("t.yaml", []byte(lintDoc("tenant-jobs", "p", "  endpointSelector: {matchLabels: {app: coreapi}}\n  ingressDeny:\n  - fromEndpoints:\n    - matchLabels:\n        kubernetes.io/metadata.name: jobs\n")))
	for _, f := range rep.Findings {
		if f.Rule != RuleNamespaceLabel {
			continue
		}
		if f.Location() != "t.yaml:11:9" || f.Path != `spec.ingressDeny[0].fromEndpoints[0].matchLabels["kubernetes.io/metadata.name"]` || f.Policy != "tenant-jobs/p" {
			t.Errorf("location %s path %s policy %s", f.Location(), f.Path, f.Policy)
		}
		if !strings.Contains(f.Hint, "io.kubernetes.pod.namespace: jobs") || !strings.Contains(f.Hint, "io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name: jobs") {
			t.Errorf("hint %q", f.Hint)
		}
		if !strings.Contains(f.Message, "tenant-jobs") {
			t.Errorf("message %q does not name the namespace the peer is limited to", f.Message)
		}
		return
	}
	t.Errorf("no namespace-label finding:\n%s", describeFindings(rep.Findings))
}

// A broken file does not stop the others from being linted.
func TestLintPathKeepsGoing(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a-broken.yaml":  "apiVersion: cilium.io/v2\nkind: [\n",
		"b-ok.yaml":      lintDoc("a", "p", "  endpointSelector: {}\n  ingress:\n  - fromEntities: [world]\n"),
		"c-notutf8.json": "{\"kind\": \"\xff\"}",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := LintPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, filepath.Base(f.File)+":"+strconv.Itoa(f.Line)+":"+f.Rule)
	}
	want := []string{"a-broken.yaml:2:yaml-syntax", "b-ok.yaml:9:broad-entity", "c-notutf8.json:1:file"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("findings %v, want %v", got, want)
	}
	if len(rep.Files) != 3 || len(rep.Policies) != 1 {
		t.Errorf("files %v policies %d", rep.Files, len(rep.Policies))
	}
}
