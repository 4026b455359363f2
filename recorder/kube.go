package recorder

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// KubeSource watches pods and namespaces: every running pod with an IP
// gives an identity (so peers on other nodes resolve too), and pods on
// Node also get their host-side interface, which makes them observed.
type KubeSource struct {
	Client kubernetes.Interface
	Node   string
	// InterfaceFor finds the host-side interface routing to a local pod's
	// address (netlink route lookup on the node).
	InterfaceFor func(netip.Addr) (string, error)
	// Resync is the informers' resync period (0: none).
	Resync time.Duration
	// Debounce coalesces bursts of changes into one snapshot (default
	// 500ms).
	Debounce time.Duration
	// OnError reports pods that cannot be mapped to an interface.
	OnError func(error)
}

// Run starts the informers and sends snapshots until ctx ends.
func (s KubeSource) Run(ctx context.Context, updates chan<- []Endpoint) error {
	f := informers.NewSharedInformerFactory(s.Client, s.Resync)
	pods := f.Core().V1().Pods()
	nss := f.Core().V1().Namespaces()
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	if _, err := pods.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	if _, err := nss.Informer().AddEventHandler(h); err != nil {
		return fmt.Errorf("watching namespaces: %w", err)
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("syncing %v informer", typ)
		}
	}
	debounce := s.Debounce
	if debounce <= 0 {
		debounce = 500 * time.Millisecond
	}
	var last []Endpoint
	for {
		podList, err := pods.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing pods: %w", err)
		}
		nsList, err := nss.Lister().List(labels.Everything())
		if err != nil {
			return fmt.Errorf("listing namespaces: %w", err)
		}
		eps := s.endpoints(podList, nsList)
		if !slices.EqualFunc(eps, last, func(a, b Endpoint) bool { return a.equal(&b) }) {
			last = eps
			select {
			case updates <- eps:
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(debounce):
		}
	}
}

// endpoints maps pods to endpoints, sorted by namespace and name.
func (s KubeSource) endpoints(pods []*corev1.Pod, nss []*corev1.Namespace) []Endpoint {
	nsLabels := map[string]map[string]string{}
	for _, ns := range nss {
		nsLabels[ns.Name] = ns.Labels
	}
	var out []Endpoint
	for _, p := range pods {
		if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			// host-network pods have the node's identity, not their own
			continue
		}
		var ips []netip.Addr
		for _, pip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(pip.IP); err == nil && !slices.Contains(ips, a.Unmap()) {
				ips = append(ips, a.Unmap())
			}
		}
		if len(ips) == 0 {
			if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
				ips = append(ips, a.Unmap())
			}
		}
		if len(ips) == 0 {
			continue
		}
		e := Endpoint{
			Namespace: p.Namespace, Pod: p.Name, Workload: workloadOf(p), IPs: ips,
			Labels: p.Labels, NamespaceLabels: nsLabels[p.Namespace],
			ServiceAccount: p.Spec.ServiceAccountName,
		}
		if s.Node != "" && p.Spec.NodeName == s.Node && s.InterfaceFor != nil {
			ifc, err := s.InterfaceFor(ips[0])
			if err != nil {
				if s.OnError != nil {
					s.OnError(fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err))
				}
			} else {
				e.Interface = ifc
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Endpoint) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// workloadOf names the controller behind a pod: a ReplicaSet's
// Deployment (its name minus the template hash), else the owner itself.
func workloadOf(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		if o.Kind == "ReplicaSet" {
			if h := p.Labels["pod-template-hash"]; h != "" {
				if base, ok := strings.CutSuffix(o.Name, "-"+h); ok {
					return base
				}
			}
		}
		if o.Kind == "Job" {
			// a CronJob's job is named <cronjob>-<schedule time>
			if i := strings.LastIndexByte(o.Name, '-'); i > 0 {
				if _, err := fmt.Sscanf(o.Name[i+1:], "%d", new(int)); err == nil && len(o.Name)-i-1 >= 8 {
					return o.Name[:i]
				}
			}
		}
		return o.Name
	}
	return ""
}
