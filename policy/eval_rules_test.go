package policy

import (
	"testing"

	"github.com/posture-dev/posture/flow"
)

func TestEvaluateCIDRAndFQDN(t *testing.T) {
	ps := []*Policy{
		cnp(t, "crawl", "egress", `{"endpointSelector": {"matchLabels": {"app": "crawler"}},
			"egress": [
				{"toCIDRSet": [{"cidr": "203.0.113.0/24", "except": ["203.0.113.128/25"]}]},
				{"toCIDR": ["10.0.0.0/8"]},
				{"toFQDNs": [{"matchName": "api.example.com"}, {"matchPattern": "*.cdn.example.net"}],
				 "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]},
				{"toFQDNs": [{"matchPattern": "**.deep.example.org"}]}
			]}`),
	}
	cr := pod("crawl", "app=crawler")
	runCases(t, ps, []evalCase{
		{name: "inside the CIDR", flow: tcp(cr, world("203.0.113.5"), 80), egress: Allowed, ingress: NotSelected, rule: "crawl/egress egress[0]"},
		{name: "in the except range", flow: tcp(cr, world("203.0.113.200"), 80), egress: DefaultDenied, ingress: NotSelected},
		{name: "CIDR never selects a pod", flow: tcp(cr, flow.Endpoint{Namespace: "x", IP: "10.1.2.3",
			Labels: flow.NewLabels("k8s:io.kubernetes.pod.namespace=x")}, 80), egress: DefaultDenied, ingress: NotSelected},
		{name: "CIDR never selects a remote node", flow: tcp(cr, flow.Endpoint{Identity: flow.IdentityRemoteNode, IP: "10.0.0.9"}, 80),
			egress: DefaultDenied, ingress: NotSelected},
		{name: "matchName, case-insensitive", flow: tcp(cr, world("1.2.3.4", "API.example.com"), 443), egress: Allowed, ingress: NotSelected},
		{name: "matchName on the wrong port", flow: tcp(cr, world("1.2.3.4", "api.example.com"), 80), egress: DefaultDenied, ingress: NotSelected},
		{name: "* matches one label", flow: tcp(cr, world("1.2.3.4", "img.cdn.example.net"), 443), egress: Allowed, ingress: NotSelected},
		{name: "* does not cross dots", flow: tcp(cr, world("1.2.3.4", "a.img.cdn.example.net"), 443), egress: DefaultDenied, ingress: NotSelected},
		{name: "** matches several labels", flow: tcp(cr, world("1.2.3.4", "a.b.deep.example.org"), 8443), egress: Allowed, ingress: NotSelected},
		{name: "** needs at least one label", flow: tcp(cr, world("1.2.3.4", "deep.example.org"), 8443), egress: DefaultDenied, ingress: NotSelected},
		{name: "no names known", flow: tcp(cr, world("1.2.3.4"), 443), egress: DefaultDenied, ingress: NotSelected, reason: "names no DNS name"},
		{name: "the fqdn: identity label of a selector", flow: tcp(cr, flow.Endpoint{Identity: flow.IdentityMinLocal + 9, IP: "5.5.5.5",
			Labels: flow.NewLabels("fqdn:*.cdn.example.net", "reserved:world")}, 443), egress: Allowed, ingress: NotSelected},
		{name: "an fqdn: label of another selector", flow: tcp(cr, flow.Endpoint{Identity: flow.IdentityMinLocal + 10, IP: "5.5.5.6",
			Labels: flow.NewLabels("fqdn:*.example.net", "reserved:world")}, 443), egress: DefaultDenied, ingress: NotSelected},
	})
}

func TestEvaluatePorts(t *testing.T) {
	ps := []*Policy{
		cnp(t, "p", "ports", `{"endpointSelector": {"matchLabels": {"app": "srv"}},
			"ingress": [
				{"toPorts": [{"ports": [{"port": "8000", "endPort": 8100, "protocol": "TCP"}]}]},
				{"toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}]}]},
				{"toPorts": [{"ports": [{"port": "http-alt", "protocol": "TCP"}]}]},
				{"icmps": [{"fields": [{"type": 8}, {"type": "EchoRequest", "family": "IPv6"}]}]},
				{"fromEndpoints": [{"matchLabels": {"app": "admin"}}]},
				{"fromEndpoints": [{"matchLabels": {"app": "pinger"}}], "icmps": [{"fields": [{"type": 0}]}]}
			]}`),
	}
	srv, cli := pod("p", "app=srv"), pod("p", "app=cli")
	icmp := func(src flow.Endpoint, proto flow.Protocol, t uint8) *flow.Flow {
		return &flow.Flow{Source: src, Destination: srv, Protocol: proto, ICMPType: t}
	}
	runCases(t, ps, []evalCase{
		{name: "range start", flow: tcp(cli, srv, 8000), egress: NotSelected, ingress: Allowed},
		{name: "range end", flow: tcp(cli, srv, 8100), egress: NotSelected, ingress: Allowed},
		{name: "past the range", flow: tcp(cli, srv, 8101), egress: NotSelected, ingress: DefaultDenied},
		{name: "range is TCP only", flow: udp(cli, srv, 8050), egress: NotSelected, ingress: DefaultDenied},
		{name: "ANY covers UDP", flow: udp(cli, srv, 53), egress: NotSelected, ingress: Allowed},
		{name: "ANY covers SCTP", flow: &flow.Flow{Source: cli, Destination: srv, Protocol: flow.ProtoSCTP, DstPort: 53}, egress: NotSelected, ingress: Allowed},
		{name: "ports without peers allow every peer, world included", flow: tcp(world("5.6.7.8"), srv, 8080), egress: NotSelected, ingress: Allowed},
		{name: "named ports cannot be resolved from flows", flow: tcp(cli, srv, 9090), egress: NotSelected, ingress: DefaultDenied, reason: "named port http-alt"},
		{name: "ICMP echo by number", flow: icmp(cli, flow.ProtoICMP, 8), egress: NotSelected, ingress: Allowed},
		{name: "ICMP other type", flow: icmp(cli, flow.ProtoICMP, 13), egress: NotSelected, ingress: DefaultDenied},
		{name: "ICMP type 0 is Cilium's wildcard port: every type", flow: icmp(pod("p", "app=pinger"), flow.ProtoICMP, 13), egress: NotSelected, ingress: Allowed},
		{name: "but only of its family", flow: icmp(pod("p", "app=pinger"), flow.ProtoICMPv6, 13), egress: NotSelected, ingress: DefaultDenied},
		{name: "ICMPv6 echo by name", flow: icmp(cli, flow.ProtoICMPv6, 128), egress: NotSelected, ingress: Allowed},
		{name: "ICMP is not ANY", flow: icmp(cli, flow.ProtoICMP, 53), egress: NotSelected, ingress: DefaultDenied},
		{name: "L3-only rules cover ICMP", flow: icmp(pod("p", "app=admin"), flow.ProtoICMP, 13), egress: NotSelected, ingress: Allowed},
	})
}

func TestEvaluateL7(t *testing.T) {
	ps := []*Policy{
		cnp(t, "payments", "api", `{"endpointSelector": {"matchLabels": {"app": "api"}},
			"ingress": [{"fromEndpoints": [{"matchLabels": {"app": "web"}}],
				"toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}],
				"rules": {"http": [{"method": "GET", "path": "/public/.*"}, {"method": "POST", "path": "^/orders$"}]}}]},
				{"fromEndpoints": [{"matchLabels": {"app": "ops"}}],
				 "toPorts": [{"ports": [{"port": "8080", "protocol": "TCP"}]}]}],
			"egress": [{"toEndpoints": [{"matchLabels": {"io.kubernetes.pod.namespace": "kube-system", "k8s-app": "kube-dns"}}],
				"toPorts": [{"ports": [{"port": "53", "protocol": "UDP"}], "rules": {"dns": [{"matchPattern": "*.example.com"}]}}]}]}`),
	}
	web, api, ops := pod("payments", "app=web"), pod("payments", "app=api"), pod("payments", "app=ops")
	req := func(src flow.Endpoint, method, path string) *flow.Flow {
		f := tcp(src, api, 8080)
		f.HTTP = &flow.HTTP{Method: method, Path: path}
		return f
	}
	dns := pod("kube-system", "k8s-app=kube-dns")
	query := func(q string) *flow.Flow {
		f := udp(api, dns, 53)
		f.DNS = &flow.DNS{Query: q}
		return f
	}
	runCases(t, ps, []evalCase{
		{name: "GET on an allowed path", flow: req(web, "GET", "/public/index.html"), egress: NotSelected, ingress: Allowed},
		{name: "path regex is anchored", flow: req(web, "GET", "/x/public/a"), egress: NotSelected, ingress: DefaultDenied, reason: "proxy would reject"},
		{name: "method regex is anchored", flow: req(web, "GETX", "/public/a"), egress: NotSelected, ingress: DefaultDenied},
		{name: "POST /orders", flow: req(web, "POST", "/orders"), egress: NotSelected, ingress: Allowed},
		{name: "POST /orders/1", flow: req(web, "POST", "/orders/1"), egress: NotSelected, ingress: DefaultDenied},
		{name: "no HTTP data: allowed at L4", flow: tcp(web, api, 8080), egress: NotSelected, ingress: Allowed, reason: "allowed at L4"},
		{name: "an L4-only rule for the same port leaves other peers unrestricted", flow: req(ops, "DELETE", "/anything"), egress: NotSelected, ingress: Allowed},
		{name: "DNS query allowed", flow: query("www.example.com"), egress: Allowed, ingress: NotSelected},
		{name: "DNS query refused", flow: query("www.example.org"), egress: DefaultDenied, ingress: NotSelected, reason: "DNS rule"},
	})
}

func TestEvaluateRequires(t *testing.T) {
	ps := []*Policy{
		cnp(t, "prod", "requires", `{"endpointSelector": {"matchLabels": {"app": "db"}},
			"ingress": [{"fromRequires": [{"matchLabels": {"io.kubernetes.pod.namespace": "prod", "env": "prod"}}]},
			            {"fromEndpoints": [{"matchLabels": {"role": "client"}}]},
			            {"fromEntities": ["host"]}]}`),
	}
	db := pod("prod", "app=db")
	runCases(t, ps, []evalCase{
		{name: "peer meets the requirement", flow: tcp(pod("prod", "role=client", "env=prod"), db, 5432), egress: NotSelected, ingress: Allowed},
		{name: "peer fails the requirement", flow: tcp(pod("prod", "role=client", "env=dev"), db, 5432), egress: NotSelected, ingress: DefaultDenied},
		{name: "requirements do not constrain entities", flow: tcp(reserved(flow.IdentityHost), db, 5432), egress: NotSelected, ingress: Allowed},
	})
}

func TestEvaluateUnresolvablePeers(t *testing.T) {
	ps := []*Policy{cnp(t, "r", "svc", `{"endpointSelector": {"matchLabels": {"app": "reporter"}},
		"egress": [{"toServices": [{"k8sService": {"serviceName": "clickhouse", "namespace": "observability"}}],
		            "toPorts": [{"ports": [{"port": "9000", "protocol": "TCP"}]}]}]}`)}
	rep := pod("r", "app=reporter")
	runCases(t, ps, []evalCase{
		// Cilium would treat a toServices rule it cannot resolve as
		// selecting the Service's backends only, never every peer.
		{name: "toServices selects nothing from flows alone", flow: tcp(rep, pod("observability", "app=clickhouse"), 9000),
			egress: DefaultDenied, ingress: NotSelected, reason: "toServices"},
		{name: "other ports get the plain reason", flow: tcp(rep, pod("observability", "app=clickhouse"), 22),
			egress: DefaultDenied, ingress: NotSelected, reason: "no rule allows this peer on this port"},
	})
}

func TestEvaluateReasonPrefersFullAllow(t *testing.T) {
	ps := []*Policy{cnp(t, "x", "mixed", `{"endpointSelector": {"matchLabels": {"app": "api"}},
		"ingress": [
			{"fromEndpoints": [{"matchLabels": {"app": "web"}}],
			 "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}], "rules": {"http": [{"method": "GET"}]}}]},
			{"fromEndpoints": [{"matchLabels": {"app": "web"}}],
			 "toPorts": [{"ports": [{"port": "80", "protocol": "TCP"}]}]}]}`)}
	e, err := Compile(ps, CompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := e.Evaluate(tcp(pod("x", "app=web"), pod("x", "app=api"), 80))
	if r.Ingress.Decision != Allowed || len(r.Ingress.Rules) != 2 || r.Ingress.Reason != "allowed by x/mixed ingress[1]" {
		t.Errorf("%+v", r.Ingress)
	}
}
