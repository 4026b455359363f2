package recorder

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func testPod(ns, name, node, ip string, labels map[string]string, mod ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, ServiceAccountName: "sa-" + name},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, m := range mod {
		m(p)
	}
	return p
}

func TestKubeSource(t *testing.T) {
	yes := true
	client := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{"team": "a"}}},
		testPod("shop", "web-5d9c7-x1", "node-1", "10.0.1.5", map[string]string{"app": "web", "pod-template-hash": "5d9c7"},
			func(p *corev1.Pod) {
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d9c7", Controller: &yes}}
				p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::5"})
			}),
		testPod("shop", "db-0", "node-2", "10.0.2.7", map[string]string{"app": "db"},
			func(p *corev1.Pod) {
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "StatefulSet", Name: "db", Controller: &yes}}
			}),
		testPod("shop", "pending", "node-1", "", map[string]string{"app": "x"}),
		testPod("kube-system", "kube-proxy-abc", "node-1", "192.168.0.1", nil, func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		testPod("shop", "done", "node-1", "10.0.1.9", nil, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		testPod("shop", "unrouted", "node-1", "10.0.1.66", nil),
	)
	var reported []error
	src := KubeSource{
		Client: client, Node: "node-1", Debounce: 10 * time.Millisecond,
		InterfaceFor: func(a netip.Addr) (string, error) {
			if a == netip.MustParseAddr("10.0.1.66") {
				return "", errors.New("no route")
			}
			return "lxc" + a.String()[len(a.String())-1:], nil
		},
		OnError: func(err error) { reported = append(reported, err) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := make(chan []Endpoint, 1)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()

	next := func() []Endpoint {
		select {
		case eps := <-updates:
			return eps
		case err := <-done:
			t.Fatalf("source stopped: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no snapshot")
		}
		return nil
	}
	eps := next()
	if len(eps) != 3 {
		t.Fatalf("got %d endpoints: %+v", len(eps), eps)
	}
	db, unrouted, web := eps[0], eps[1], eps[2]
	if web.Pod != "web-5d9c7-x1" || web.Workload != "web" || web.Interface != "lxc5" ||
		len(web.IPs) != 2 || web.IPs[1] != netip.MustParseAddr("fd00::5") ||
		web.NamespaceLabels["team"] != "a" || web.ServiceAccount != "sa-web-5d9c7-x1" {
		t.Errorf("web: %+v", web)
	}
	if db.Interface != "" || db.Workload != "db" {
		t.Errorf("db on another node: %+v", db)
	}
	if unrouted.Interface != "" || len(reported) == 0 {
		t.Errorf("unrouted: %+v, reported %v", unrouted, reported)
	}
	if ls := web.IdentityLabels(); ls.Has("", "pod-template-hash") || !ls.Has("k8s", "io.cilium.k8s.namespace.labels.team") {
		t.Errorf("identity labels %v", ls.Strings())
	}

	// a label change makes a new snapshot
	p, err := client.CoreV1().Pods("shop").Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["tier"] = "data"
	if _, err := client.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eps = next()
	if eps[0].Labels["tier"] != "data" {
		t.Errorf("update not seen: %+v", eps[0])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWorkloadOf(t *testing.T) {
	yes := true
	for _, tc := range []struct {
		kind, owner, hash, want string
	}{
		{"ReplicaSet", "web-5d9c7", "5d9c7", "web"},
		{"ReplicaSet", "odd", "zzz", "odd"},
		{"StatefulSet", "db", "", "db"},
		{"Job", "backup-29123456", "", "backup"},
		{"Job", "migrate-x", "", "migrate-x"},
	} {
		p := testPod("ns", "p", "", "", map[string]string{"pod-template-hash": tc.hash}, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: tc.kind, Name: tc.owner, Controller: &yes}}
		})
		if got := workloadOf(p); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.kind, tc.owner, got, tc.want)
		}
	}
}
