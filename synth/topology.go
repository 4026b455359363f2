package synth

import (
	"fmt"
	"slices"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Addresses outside the cluster come from the documentation ranges
// (RFC 5737), names from example domains (RFC 2606).
const (
	PaygateIPPrefix = "203.0.113."
	MailIPPrefix    = "198.51.100."
)

// workloadPods makes n pods of a Deployment (name-<hash>-<id>).
func (g *gen) deployment(ns, name, sa string, n int, labels, nsLabels map[string]string) []flow.Endpoint {
	hash := g.suffix(9)
	var out []flow.Endpoint
	for i := 0; i < n; i++ {
		ls := cloneMap(labels)
		ls["pod-template-hash"] = hash
		out = append(out, g.mkPod(ns, name+"-"+hash+"-"+g.suffix(5), name, sa, ls, nsLabels))
	}
	return out
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Shop returns a week of synthetic flows for an example shop:
//
//   - shop: frontend → api → postgres (a three-tier web app; postgres is a
//     StatefulSet), a payments service calling an external API by name
//     (DNS answers included), a mailer calling raw external addresses, a
//     shop-operator talking to the Kubernetes API server, a daily backup
//     CronJob that talks to postgres once a day, kubelet probes;
//   - ingress-nginx: the controller, reached from the world, calling
//     shop/frontend (a cross-namespace client);
//   - monitoring: prometheus scraping shop pods (another cross-namespace
//     client);
//   - kube-system: kube-dns, which every pod queries.
//
// The same seed gives the same flows.
func Shop(seed int64) []flow.Flow {
	g := newGen(seed)
	nsl := func(ns string) map[string]string {
		return map[string]string{"kubernetes.io/metadata.name": ns}
	}
	shopNS := map[string]string{"kubernetes.io/metadata.name": "shop", "team": "shop"}

	kubeDNS := g.deployment("kube-system", "coredns", "coredns", 2,
		map[string]string{"k8s-app": "kube-dns"}, nsl("kube-system"))
	frontend := g.deployment("shop", "frontend", "frontend", 3,
		map[string]string{"app.kubernetes.io/name": "frontend", "app.kubernetes.io/part-of": "shop", "tier": "web"}, shopNS)
	api := g.deployment("shop", "api", "api", 2,
		map[string]string{"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "shop", "tier": "app"}, shopNS)
	var postgres []flow.Endpoint
	for i := 0; i < 2; i++ {
		postgres = append(postgres, g.mkPod("shop", fmt.Sprintf("postgres-%d", i), "postgres", "postgres", map[string]string{
			"app.kubernetes.io/name": "postgres", "app.kubernetes.io/part-of": "shop", "tier": "db",
			"controller-revision-hash":           "postgres-6d4b9c8f7",
			"statefulset.kubernetes.io/pod-name": fmt.Sprintf("postgres-%d", i),
			"apps.kubernetes.io/pod-index":       fmt.Sprint(i),
		}, shopNS))
	}
	payments := g.deployment("shop", "payments", "payments", 2,
		map[string]string{"app.kubernetes.io/name": "payments", "app.kubernetes.io/part-of": "shop"}, shopNS)
	mailer := g.deployment("shop", "mailer", "mailer", 1,
		map[string]string{"app": "mailer"}, shopNS)
	operator := g.deployment("shop", "shop-operator", "shop-operator", 1,
		map[string]string{"app.kubernetes.io/name": "shop-operator", "app.kubernetes.io/component": "operator"}, shopNS)
	ingress := g.deployment("ingress-nginx", "ingress-nginx-controller", "ingress-nginx", 2,
		map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}, nsl("ingress-nginx"))
	prom := []flow.Endpoint{g.mkPod("monitoring", "prometheus-k8s-0", "prometheus-k8s", "prometheus", map[string]string{
		"app.kubernetes.io/name": "prometheus", "controller-revision-hash": "prometheus-k8s-7c9d", "statefulset.kubernetes.io/pod-name": "prometheus-k8s-0",
	}, nsl("monitoring"))}
	host := entity(flow.IdentityHost, "10.0.0.1")
	apiserver := entity(flow.IdentityKubeAPIServer, "10.96.0.1")

	every := 3 * time.Hour
	steps := int(Days * 24 * time.Hour / every)
	at := func(i int) time.Time {
		return start.Add(time.Duration(i)*every + time.Duration(g.r.IntN(int(every/time.Second)))*time.Second)
	}
	dns := func(client flow.Endpoint, name string, t time.Time) {
		g.emit(conn{src: client, dst: pick(g, kubeDNS), proto: flow.ProtoUDP, port: 53, at: t, count: 1,
			dns: &flow.DNS{Query: name + ".", QTypes: []string{"A"}}})
	}
	apiPaths := []string{"/api/products", "/api/cart", "/healthz"}
	for i := 0; i < steps; i++ {
		t := at(i)
		// World → ingress controller → frontend → api → postgres.
		for _, ic := range ingress {
			g.emit(conn{src: world(fmt.Sprintf("192.0.2.%d", 10+g.r.IntN(200))), dst: ic, proto: flow.ProtoTCP, port: 443, at: t, count: uint64(50 + g.r.IntN(50))})
			g.emit(conn{src: ic, dst: pick(g, frontend), proto: flow.ProtoTCP, port: 8080, at: t, count: uint64(40 + g.r.IntN(40)),
				http: &flow.HTTP{Method: "GET", Path: pick(g, []string{"/", "/products", "/cart"})}})
		}
		for _, fe := range frontend {
			dns(fe, "api.shop.svc.cluster.local", t)
			path := pick(g, apiPaths)
			if g.r.IntN(2) == 0 {
				path = fmt.Sprintf("/api/products/%d", 100+g.r.IntN(900))
			}
			g.emit(conn{src: fe, dst: pick(g, api), proto: flow.ProtoTCP, port: 8080, at: t, count: uint64(20 + g.r.IntN(30)),
				http: &flow.HTTP{Method: "GET", Path: path}})
			if g.r.IntN(3) == 0 {
				g.emit(conn{src: fe, dst: pick(g, api), proto: flow.ProtoTCP, port: 8080, at: t, count: 3,
					http: &flow.HTTP{Method: "POST", Path: "/api/orders"}})
			}
			// Kubelet readiness probes.
			g.emit(conn{src: host, dst: fe, proto: flow.ProtoTCP, port: 8081, at: t, count: 360,
				http: &flow.HTTP{Method: "GET", Path: "/healthz"}})
		}
		for _, a := range api {
			dns(a, "postgres.shop.svc.cluster.local", t)
			g.emit(conn{src: a, dst: postgres[0], proto: flow.ProtoTCP, port: 5432, at: t, count: uint64(10 + g.r.IntN(10))})
			g.emit(conn{src: a, dst: pick(g, payments), proto: flow.ProtoTCP, port: 9000, at: t, count: uint64(1 + g.r.IntN(5)),
				http: &flow.HTTP{Method: "POST", Path: "/charge"}})
			g.emit(conn{src: host, dst: a, proto: flow.ProtoTCP, port: 8081, at: t, count: 360})
		}
		// Replication between the StatefulSet's pods.
		g.emit(conn{src: postgres[1], dst: postgres[0], proto: flow.ProtoTCP, port: 5432, at: t, count: 1})
		// Payments calls an external API by name: three sibling hosts.
		for _, p := range payments {
			for j, name := range []string{"api.paygate.example.com", "auth.paygate.example.com", "files.paygate.example.com"} {
				dns(p, name, t)
				ip := PaygateIPPrefix + fmt.Sprint(10+j)
				g.emit(conn{src: p, dst: world(ip, name), proto: flow.ProtoTCP, port: 443, at: t, count: uint64(1 + g.r.IntN(4))})
			}
			dns(p, "status.example.org", t)
			g.emit(conn{src: p, dst: world("192.0.2.200", "status.example.org"), proto: flow.ProtoTCP, port: 443, at: t, count: 1})
		}
		// The mailer uses raw addresses: three relays of one /24 on 587, and
		// one more address on 25.
		for _, m := range mailer {
			g.emit(conn{src: m, dst: world(MailIPPrefix + fmt.Sprint(25+g.r.IntN(3))), proto: flow.ProtoTCP, port: 587, at: t, count: 2})
			g.emit(conn{src: m, dst: world("192.0.2.25"), proto: flow.ProtoTCP, port: 25, at: t, count: 1})
		}
		for _, o := range operator {
			g.emit(conn{src: o, dst: apiserver, proto: flow.ProtoTCP, port: 443, at: t, count: 12})
			g.emit(conn{src: host, dst: o, proto: flow.ProtoTCP, port: 8081, at: t, count: 360})
		}
		// Prometheus scrapes the app's metrics ports.
		for _, target := range [][]flow.Endpoint{frontend, api} {
			for _, p := range target {
				g.emit(conn{src: prom[0], dst: p, proto: flow.ProtoTCP, port: 9090, at: t, count: 12,
					http: &flow.HTTP{Method: "GET", Path: "/metrics"}})
			}
		}
		for _, p := range postgres {
			g.emit(conn{src: prom[0], dst: p, proto: flow.ProtoTCP, port: 9187, at: t, count: 12})
		}
		g.emit(conn{src: prom[0], dst: apiserver, proto: flow.ProtoTCP, port: 443, at: t, count: 4})
	}
	// The backup CronJob: one run a day at 02:00, a new Job (and identity,
	// since job-name is an identity label) each time.
	for d := 0; d < Days; d++ {
		t := start.Add(time.Duration(d)*24*time.Hour + 2*time.Hour + time.Duration(g.r.IntN(300))*time.Second)
		jobName := fmt.Sprintf("backup-%d", 29380000+d*1440)
		job := g.mkPod("shop", jobName+"-"+g.suffix(5), "backup", "backup", map[string]string{
			"app": "backup", "job-name": jobName, "batch.kubernetes.io/job-name": jobName,
			"controller-uid": fmt.Sprintf("6f1c2d3e-0000-4000-8000-%012d", d), "batch.kubernetes.io/controller-uid": fmt.Sprintf("6f1c2d3e-0000-4000-8000-%012d", d),
		}, shopNS)
		dns(job, "postgres.shop.svc.cluster.local", t)
		g.emit(conn{src: job, dst: postgres[0], proto: flow.ProtoTCP, port: 5432, at: t, count: 1})
	}
	// Something existing policy already denies: the mailer trying the
	// database (kept out of the proposal, reported).
	g.emit(conn{src: mailer[0], dst: postgres[0], proto: flow.ProtoTCP, port: 5432, at: start.Add(30 * time.Hour), count: 3, verdict: flow.VerdictDropped})

	slices.SortStableFunc(g.flows, func(a, b flow.Flow) int { return a.Time.Compare(b.Time) })
	return g.flows
}

// Namespaces lists the namespaces Shop produces, sorted.
func Namespaces() []string {
	return []string{"ingress-nginx", "kube-system", "monitoring", "shop"}
}
