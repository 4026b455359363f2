package advisor_test

import (
	"fmt"
	"time"

	"github.com/posture-dev/posture/flow"
)

// The golden cases are small hand-built topologies. Their flows are
// written to testdata/<case>.input with -update, and the test reads them
// back from there as posture JSONL, the way the CLI does.

var t0 = time.Date(2026, 11, 16, 8, 0, 0, 0, time.UTC)

type topo struct {
	flows []flow.Flow
	ids   map[string]flow.Identity
}

func newTopo() *topo { return &topo{ids: map[string]flow.Identity{}} }

// pod makes a pod endpoint from "key=value" labels.
func (t *topo) pod(ns, name, sa string, labels ...string) flow.Endpoint {
	m := map[string]string{}
	for _, l := range labels {
		k, v, _ := cut(l)
		m[k] = v
	}
	ls := flow.PodIdentity{Namespace: ns, ServiceAccount: sa, PodLabels: m,
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": ns}}.IdentityLabels()
	id, ok := t.ids[ls.Key()]
	if !ok {
		id = flow.Identity(20000 + len(t.ids))
		t.ids[ls.Key()] = id
	}
	return flow.Endpoint{Identity: id, Namespace: ns, Pod: name, Labels: ls}
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func ent(id flow.Identity) flow.Endpoint {
	return flow.Endpoint{Identity: id, Labels: flow.ReservedLabels(id)}
}

func ext(ip string, names ...string) flow.Endpoint {
	return flow.Endpoint{Identity: flow.IdentityWorld, IP: ip, Labels: flow.ReservedLabels(flow.IdentityWorld), Names: names}
}

// conn adds n flows from src to dst, one every `every` from `at`.
func (t *topo) conn(src, dst flow.Endpoint, proto flow.Protocol, port uint16, at time.Duration, n int, every time.Duration, opts ...func(*flow.Flow)) {
	for i := 0; i < n; i++ {
		f := flow.Flow{
			Time: t0.Add(at + time.Duration(i)*every), Source: src, Destination: dst,
			Protocol: proto, DstPort: port, SrcPort: 40000, Verdict: flow.VerdictForwarded, Count: 1,
			Direction: flow.DirectionEgress,
		}
		if !src.IsPod() {
			f.Direction = flow.DirectionIngress
		}
		for _, o := range opts {
			o(&f)
		}
		t.flows = append(t.flows, f)
	}
}

func tcp(t *topo, src, dst flow.Endpoint, port uint16, n int, opts ...func(*flow.Flow)) {
	t.conn(src, dst, flow.ProtoTCP, port, 0, n, 10*time.Minute, opts...)
}

func httpReq(method, path string) func(*flow.Flow) {
	return func(f *flow.Flow) { f.HTTP = &flow.HTTP{Method: method, Path: path} }
}

func dnsQuery(name string) func(*flow.Flow) {
	return func(f *flow.Flow) { f.DNS = &flow.DNS{Query: name + ".", QTypes: []string{"A"}} }
}

func verdict(v flow.Verdict) func(*flow.Flow) { return func(f *flow.Flow) { f.Verdict = v } }

func kubeDNS(t *topo) flow.Endpoint {
	return t.pod("kube-system", "coredns-5d78c9869d-x2x7q", "coredns", "k8s-app=kube-dns")
}

func lookup(t *topo, client flow.Endpoint, names ...string) {
	d := kubeDNS(t)
	for _, n := range names {
		t.conn(client, d, flow.ProtoUDP, 53, 0, 2, time.Hour, dnsQuery(n))
	}
}

// cases builds every golden topology.
var cases = map[string]func() *topo{
	// A three-tier web app: web → api → db, all in one namespace, with
	// DNS, where api serves two contiguous ports.
	"three-tier": func() *topo {
		t := newTopo()
		web := t.pod("shop", "web-7d9f8-abcde", "web", "app=web", "tier=frontend", "pod-template-hash=7d9f8")
		web2 := t.pod("shop", "web-7d9f8-fghij", "web", "app=web", "tier=frontend", "pod-template-hash=7d9f8")
		api := t.pod("shop", "api-5c6b7-klmno", "api", "app=api", "tier=backend", "pod-template-hash=5c6b7")
		db := t.pod("shop", "db-6f8d9-pqrst", "db", "app=db", "tier=data", "pod-template-hash=6f8d9")
		tcp(t, web, api, 8080, 5)
		tcp(t, web2, api, 8080, 5)
		tcp(t, web, api, 8081, 2)
		tcp(t, api, db, 5432, 5)
		lookup(t, web, "api.shop.svc.cluster.local")
		lookup(t, api, "db.shop.svc.cluster.local")
		return t
	},
	// A client in another namespace calls the api; a second client in the
	// same namespace as the api has the same app label and must not be
	// confused with it.
	"cross-namespace": func() *topo {
		t := newTopo()
		api := t.pod("shop", "api-5c6b7-klmno", "api", "app=api")
		report := t.pod("batch", "reporter-66c9d-aaaaa", "reporter", "app=reporter")
		localReporter := t.pod("shop", "reporter-77d8e-bbbbb", "reporter", "app=reporter")
		tcp(t, report, api, 8080, 4)
		tcp(t, localReporter, api, 9090, 1)
		return t
	},
	// A CronJob runs once a day; each run is a new Job with its own
	// job-name and controller-uid, hence a new identity.
	"cronjob": func() *topo {
		t := newTopo()
		db := t.pod("shop", "postgres-0", "postgres", "app.kubernetes.io/name=postgres", "statefulset.kubernetes.io/pod-name=postgres-0")
		for d := 0; d < 3; d++ {
			job := fmt.Sprintf("backup-2938%04d", d*1440)
			p := t.pod("shop", job+"-x7k2p", "backup", "app=backup", "job-name="+job, "batch.kubernetes.io/job-name="+job,
				"controller-uid=uid-"+job, "batch.kubernetes.io/controller-uid=uid-"+job)
			t.conn(p, db, flow.ProtoTCP, 5432, time.Duration(d)*24*time.Hour+2*time.Hour, 1, time.Minute)
		}
		return t
	},
	// A pod calls an external API by name (DNS answers give the names),
	// three sibling names become one pattern; a lone name stays exact.
	"fqdn": func() *topo {
		t := newTopo()
		pay := t.pod("shop", "payments-7f7f7-ccccc", "payments", "app=payments")
		for i, n := range []string{"api.paygate.example.com", "auth.paygate.example.com", "files.paygate.example.com"} {
			lookup(t, pay, n)
			tcp(t, pay, ext(fmt.Sprintf("203.0.113.%d", 10+i), n), 443, 3)
		}
		lookup(t, pay, "status.example.org")
		tcp(t, pay, ext("192.0.2.200", "status.example.org"), 443, 2)
		return t
	},
	// Pods call raw external addresses: three of one /24 become the /24,
	// a lone address stays a /32; IPv6 works the same way.
	"cidr": func() *topo {
		t := newTopo()
		m := t.pod("shop", "mailer-6b6b6-ddddd", "mailer", "app=mailer")
		for i := 0; i < 3; i++ {
			tcp(t, m, ext(fmt.Sprintf("198.51.100.%d", 25+i)), 587, 2)
		}
		tcp(t, m, ext("192.0.2.25"), 25, 1)
		tcp(t, m, ext("2001:db8::25"), 587, 1)
		return t
	},
	// An operator talks to the Kubernetes API server and gets probed.
	"operator": func() *topo {
		t := newTopo()
		op := t.pod("shop", "shop-operator-5f5f5-eeeee", "shop-operator", "app.kubernetes.io/name=shop-operator", "app.kubernetes.io/component=operator")
		tcp(t, op, ent(flow.IdentityKubeAPIServer), 443, 6)
		tcp(t, op, ent(flow.IdentityKubeAPIServer), 6443, 1)
		return t
	},
	// The kubelet probes two workloads; one also serves real traffic.
	"probes": func() *topo {
		t := newTopo()
		web := t.pod("shop", "web-7d9f8-abcde", "web", "app=web")
		worker := t.pod("shop", "worker-8e8e8-fffff", "worker", "app=worker")
		host := ent(flow.IdentityHost)
		tcp(t, host, web, 8081, 4, httpReq("GET", "/healthz"))
		tcp(t, host, worker, 8081, 4)
		tcp(t, web, worker, 9000, 2)
		return t
	},
	// A StatefulSet's replicas replicate to each other and serve clients;
	// the per-pod name label never reaches a selector.
	"statefulset": func() *topo {
		t := newTopo()
		var rs []flow.Endpoint
		for i := 0; i < 3; i++ {
			rs = append(rs, t.pod("data", fmt.Sprintf("redis-%d", i), "redis", "app.kubernetes.io/name=redis",
				"app.kubernetes.io/instance=cache", "statefulset.kubernetes.io/pod-name="+fmt.Sprintf("redis-%d", i),
				"controller-revision-hash=redis-7c8d9"))
		}
		client := t.pod("data", "api-1a2b3-ggggg", "api", "app.kubernetes.io/name=api")
		tcp(t, rs[1], rs[0], 6379, 3)
		tcp(t, rs[2], rs[0], 6379, 3)
		tcp(t, rs[0], rs[1], 16379, 1)
		tcp(t, client, rs[0], 6379, 4)
		return t
	},
	// Bad input: a pod without labels, traffic existing policy drops,
	// an edge both forwarded and dropped, and reserved-only identities.
	"messy": func() *topo {
		t := newTopo()
		bare := t.pod("shop", "debug", "")
		api := t.pod("shop", "api-5c6b7-klmno", "api", "app=api")
		db := t.pod("shop", "db-6f8d9-pqrst", "db", "app=db")
		tcp(t, bare, api, 8080, 2)
		tcp(t, api, db, 5432, 3)
		tcp(t, bare, db, 5432, 2, verdict(flow.VerdictDropped))
		tcp(t, api, db, 5433, 1)
		tcp(t, api, db, 5433, 1, verdict(flow.VerdictDropped))
		tcp(t, ent(flow.IdentityRemoteNode), api, 8080, 1)
		tcp(t, ent(flow.IdentityUnmanaged), api, 8080, 1)
		return t
	},
	// L7: HTTP samples on the api, with ids in paths to generalise.
	"l7": func() *topo {
		t := newTopo()
		web := t.pod("shop", "web-7d9f8-abcde", "web", "app=web")
		api := t.pod("shop", "api-5c6b7-klmno", "api", "app=api")
		for _, id := range []string{"17", "42", "1001", "77"} {
			tcp(t, web, api, 8080, 1, httpReq("GET", "/api/orders/"+id))
		}
		tcp(t, web, api, 8080, 2, httpReq("GET", "/api/products?page=2"))
		tcp(t, web, api, 8080, 1, httpReq("POST", "/api/orders"))
		lookup(t, web, "api.shop.svc.cluster.local")
		return t
	},
}

func init() {
	// Existing policy dropped the mailer's attempts at one address of its
	// relays' /24 on another port, and at an address it also reaches:
	// the first becomes an except of the aggregated prefix, the second
	// must not.
	cases["cidr-except"] = func() *topo {
		t := newTopo()
		m := t.pod("shop", "mailer-6b6b6-ddddd", "mailer", "app=mailer")
		for i := 0; i < 3; i++ {
			tcp(t, m, ext(fmt.Sprintf("198.51.100.%d", 25+i)), 587, 2)
		}
		tcp(t, m, ext("198.51.100.99"), 25, 2, verdict(flow.VerdictDropped))
		tcp(t, m, ext("198.51.100.26"), 26, 1, verdict(flow.VerdictDropped))
		return t
	}
}
