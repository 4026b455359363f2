package conformance

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"

	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/labels"
	"github.com/cilium/cilium/pkg/option"

	"github.com/posture-dev/posture/flow"
)

// Peer is one endpoint of the generated cluster, seen by both engines: the
// posture Endpoint carries exactly the labels of the Cilium identity.
type Peer struct {
	Endpoint flow.Endpoint
	// Pod is true for workload endpoints, the only ones that enforce policy
	// (reserved identities are never endpoints with policy here: the host
	// firewall is off).
	Pod bool
}

// Universe is the fixed set of identities the differential test draws
// flows from.
type Universe struct {
	Namespaces []Namespace
	Peers      []Peer
	// DualStack records the agent's IP families when the universe was
	// built.
	DualStack bool
	// PodLabels lists, for selector generation, every (key, value) pair
	// pods carry, by namespace.
	ciliumIDs map[flow.Identity]*identity.Identity
}

// Namespace is a generated namespace and its labels.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// WorldIPs are external addresses flows may target; the generator's CIDRs
// are drawn so that some contain them and some carve them out.
var WorldIPs = []string{"10.0.0.5", "10.1.2.3", "10.1.200.9", "192.168.1.10", "203.0.113.7", "203.0.113.200", "8.8.8.8"}

// WorldIPv6s are added in dual stack.
var WorldIPv6s = []string{"2001:db8::5", "2001:db8:1::9", "2606:4700::1111"}

// PodSpec is a pod as Kubernetes describes it.
type PodSpec struct {
	Namespace, ServiceAccount string
	Labels                    map[string]string
	// NamespaceLabels are added to the namespace's labels.
	NamespaceLabels map[string]string
}

// DefaultPods are the pods of the generated cluster.
var DefaultPods = []PodSpec{
	{Namespace: "shop", ServiceAccount: "web", Labels: map[string]string{"app": "web", "role": "frontend"}},
	{Namespace: "shop", ServiceAccount: "api", Labels: map[string]string{"app": "api", "role": "backend"}},
	{Namespace: "shop", ServiceAccount: "default", Labels: map[string]string{"app": "db"}},
	{Namespace: "shop", ServiceAccount: "default", Labels: map[string]string{"app": "api", "role": "backend", "version": "v2"}},
	{Namespace: "payments", ServiceAccount: "api", Labels: map[string]string{"app": "api", "role": "backend"}},
	{Namespace: "payments", ServiceAccount: "default", Labels: map[string]string{"app": "web"}},
	{Namespace: "payments", ServiceAccount: "default", Labels: map[string]string{"app": "worker", "role": "batch", "pod-template-hash": "5d8f"}},
	{Namespace: "kube-system", ServiceAccount: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}},
	{Namespace: "kube-system", ServiceAccount: "default", Labels: map[string]string{"app": "web", "role": "frontend"}},
}

// NewUniverse builds the generated cluster: namespaces, DefaultPods,
// every reserved identity, and a CIDR identity per world IP.
func NewUniverse() *Universe { return NewUniverseWith(DefaultPods) }

// NewUniverseWith builds a universe from pods (labels derived by
// flow.PodIdentity, as posture derives them from Kubernetes objects). Pod
// IPs lie inside CIDRs the generator uses, so CIDR rules that wrongly
// matched pods would show.
func NewUniverseWith(pods []PodSpec) *Universe {
	configureCilium() // CIDR identity labels depend on the IP families
	u := &Universe{ciliumIDs: map[flow.Identity]*identity.Identity{}, DualStack: option.Config.EnableIPv6}
	u.Namespaces = []Namespace{
		{"shop", map[string]string{"kubernetes.io/metadata.name": "shop", "team": "a"}},
		{"payments", map[string]string{"kubernetes.io/metadata.name": "payments", "team": "b"}},
		{"kube-system", map[string]string{"kubernetes.io/metadata.name": "kube-system"}},
	}
	for _, p := range pods {
		i := slices.IndexFunc(u.Namespaces, func(n Namespace) bool { return n.Name == p.Namespace })
		if i < 0 {
			u.Namespaces = append(u.Namespaces, Namespace{p.Namespace, map[string]string{"kubernetes.io/metadata.name": p.Namespace}})
			i = len(u.Namespaces) - 1
		}
		maps.Copy(u.Namespaces[i].Labels, p.NamespaceLabels)
	}
	nsLabels := map[string]map[string]string{}
	for _, ns := range u.Namespaces {
		nsLabels[ns.Name] = ns.Labels
	}
	seen := map[string]bool{}
	for i, p := range pods {
		id := flow.Identity(1000 + i)
		ls := flow.PodIdentity{
			Namespace: p.Namespace, ServiceAccount: p.ServiceAccount, Cluster: ClusterName,
			PodLabels: p.Labels, NamespaceLabels: nsLabels[p.Namespace],
		}.IdentityLabels()
		if seen[ls.Key()] {
			continue // one identity per label set, as Cilium allocates
		}
		seen[ls.Key()] = true
		u.add(Peer{Pod: true, Endpoint: flow.Endpoint{
			Identity: id, Namespace: p.Namespace, Pod: fmt.Sprintf("%s-%d", p.Labels["app"]+p.Labels["k8s-app"], i), Labels: ls,
			IP: fmt.Sprintf("10.1.%d.%d", 5+i/250, 1+i%250),
		}})
	}
	// Reserved identities take their labels from Cilium (kube-apiserver
	// also carries reserved:remote-node there).
	reserved := []flow.Identity{flow.IdentityHost, flow.IdentityWorld, flow.IdentityUnmanaged, flow.IdentityHealth,
		flow.IdentityInit, flow.IdentityRemoteNode, flow.IdentityKubeAPIServer, flow.IdentityIngress}
	worldIPs := WorldIPs
	if u.DualStack {
		// A dual-stack agent gives outside traffic world-ipv4/-ipv6; the
		// plain world identity carries none.
		reserved = slices.DeleteFunc(reserved, func(id flow.Identity) bool { return id == flow.IdentityWorld })
		reserved = append(reserved, flow.IdentityWorldIPv4, flow.IdentityWorldIPv6)
		worldIPs = append(append([]string{}, WorldIPs...), WorldIPv6s...)
	}
	for _, id := range reserved {
		cid := identity.LookupReservedIdentity(identity.NumericIdentity(id))
		u.ciliumIDs[id] = cid
		u.Peers = append(u.Peers, Peer{Endpoint: flow.Endpoint{Identity: id, Labels: fromCiliumLabels(cid.LabelArray)}})
	}
	// World addresses: one local-scope CIDR identity per address, labelled
	// with its /32 (and reserved:world) as the agent's ipcache would give
	// it; Cilium matches CIDR selectors by prefix containment.
	for i, ip := range worldIPs {
		id := flow.IdentityMinLocal + flow.Identity(i+1)
		addr := netip.MustParseAddr(ip)
		la := labels.GetCIDRLabelArray(netip.PrefixFrom(addr, addr.BitLen())).Sort()
		cid := identity.NewIdentityFromLabelArray(identity.NumericIdentity(id), la)
		u.ciliumIDs[id] = cid
		u.Peers = append(u.Peers, Peer{Endpoint: flow.Endpoint{Identity: id, IP: ip, Labels: fromCiliumLabels(la)}})
	}
	return u
}

func (u *Universe) add(p Peer) {
	la := make(labels.LabelArray, 0, len(p.Endpoint.Labels))
	for _, l := range p.Endpoint.Labels {
		la = append(la, labels.NewLabel(l.Key, l.Value, l.Source))
	}
	u.ciliumIDs[p.Endpoint.Identity] = identity.NewIdentityFromLabelArray(identity.NumericIdentity(p.Endpoint.Identity), la.Sort())
	u.Peers = append(u.Peers, p)
}

// Pods returns the workload peers.
func (u *Universe) Pods() []Peer {
	var out []Peer
	for _, p := range u.Peers {
		if p.Pod {
			out = append(out, p)
		}
	}
	return out
}

// PeerByIdentity finds a peer.
func (u *Universe) PeerByIdentity(id flow.Identity) (Peer, bool) {
	for _, p := range u.Peers {
		if p.Endpoint.Identity == id {
			return p, true
		}
	}
	return Peer{}, false
}

func fromCiliumLabels(la labels.LabelArray) flow.Labels {
	out := make(flow.Labels, 0, len(la))
	for _, l := range la {
		out = append(out, flow.Label{Source: l.Source, Key: l.Key, Value: l.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	out.Sort()
	return out
}

// Canon maps endpoints seen in evidence to identities of a universe that
// both engines share: one identity per distinct pod label set, Cilium's
// reserved identities, and a CIDR identity per external address.
type Canon struct {
	U      *Universe
	byKey  map[string]flow.Identity
	nextID flow.Identity
	nextIP flow.Identity
}

// NewCanon starts an empty universe for evidence.
func NewCanon() *Canon {
	configureCilium()
	return &Canon{
		U:      &Universe{ciliumIDs: map[flow.Identity]*identity.Identity{}},
		byKey:  map[string]flow.Identity{},
		nextID: 1000,
		nextIP: flow.IdentityMinLocal + 1,
	}
}

// Endpoint returns the canonical form of ep (its labels exactly as the
// Cilium identity has them), or false for endpoints no engine can place
// (an unknown identity with neither labels nor address).
func (c *Canon) Endpoint(ep flow.Endpoint) (flow.Endpoint, bool) {
	world := ep.Identity.IsWorld() || ep.Identity >= flow.IdentityMinLocal ||
		(ep.Identity == flow.IdentityUnknown && len(ep.Labels) == 0)
	switch {
	case world && ep.IP != "":
		addr, err := netip.ParseAddr(ep.IP)
		if err != nil {
			return flow.Endpoint{}, false
		}
		key := "ip/" + addr.String()
		if id, ok := c.byKey[key]; ok {
			p, _ := c.U.PeerByIdentity(id)
			return p.Endpoint, true
		}
		id := c.nextIP
		c.nextIP++
		la := labels.GetCIDRLabelArray(netip.PrefixFrom(addr, addr.BitLen())).Sort()
		c.U.ciliumIDs[id] = identity.NewIdentityFromLabelArray(identity.NumericIdentity(id), la)
		out := flow.Endpoint{Identity: id, IP: addr.String(), Labels: fromCiliumLabels(la)}
		c.U.Peers = append(c.U.Peers, Peer{Endpoint: out})
		c.byKey[key] = id
		return out, true
	case ep.Identity.IsReserved():
		if p, ok := c.U.PeerByIdentity(ep.Identity); ok {
			return p.Endpoint, true
		}
		cid := identity.LookupReservedIdentity(identity.NumericIdentity(ep.Identity))
		if cid == nil {
			return flow.Endpoint{}, false
		}
		c.U.ciliumIDs[ep.Identity] = cid
		out := flow.Endpoint{Identity: ep.Identity, Labels: fromCiliumLabels(cid.LabelArray)}
		c.U.Peers = append(c.U.Peers, Peer{Endpoint: out})
		return out, true
	}
	ls := append(flow.Labels{}, ep.Labels...)
	ns := ep.Namespace
	if v, ok := ls.Get(flow.LabelNamespace); ok {
		ns = v
	} else if ns != "" {
		ls = append(ls, flow.Label{Source: flow.SourceK8s, Key: flow.LabelNamespace, Value: ns})
	}
	if ns == "" {
		return flow.Endpoint{}, false
	}
	ls.Sort()
	key := "pod/" + ls.Key()
	if id, ok := c.byKey[key]; ok {
		p, _ := c.U.PeerByIdentity(id)
		out := p.Endpoint
		out.Pod, out.IP = ep.Pod, ep.IP
		return out, true
	}
	id := c.nextID
	c.nextID++
	out := flow.Endpoint{Identity: id, Namespace: ns, Pod: ep.Pod, Workload: ep.Workload, Labels: ls, IP: ep.IP}
	c.U.add(Peer{Pod: true, Endpoint: out})
	c.byKey[key] = id
	return out, true
}

// Flow canonicalizes both ends and keeps only what LookupFlow can answer:
// the L3/L4 part of a new connection (replies pass by connection
// tracking; L7 and DNS names are outside LookupFlow).
func (c *Canon) Flow(f flow.Flow) (flow.Flow, bool) {
	if f.IsReply || f.Port() == 0 {
		return flow.Flow{}, false
	}
	if _, err := ciliumProto(f.Protocol); err != nil {
		return flow.Flow{}, false
	}
	src, ok1 := c.Endpoint(f.Source)
	dst, ok2 := c.Endpoint(f.Destination)
	if !ok1 || !ok2 {
		return flow.Flow{}, false
	}
	src.Names, dst.Names = nil, nil
	return flow.Flow{Source: src, Destination: dst, Protocol: f.Protocol, DstPort: f.DstPort, ICMPType: f.ICMPType, SrcPort: f.SrcPort}, true
}
