package advisor

import (
	"cmp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/posture-dev/posture/flow"
)

// class is a set of identities that are the same once per-pod and per-run
// labels are removed (every run of a CronJob is one class).
type class struct {
	ns     string
	nsIx   *nsIndex    // its namespace's index
	labels flow.Labels // stable labels, all sources, sorted
	key    string
	id     string // "c:<ns>/<key>", a peer id
	num    uint32 // its peer number (peerNum), its place in index.classes (id order)
	wl     *workload
	raw    map[string]bool // identity label keys seen
	pods   []string
	// Direction totals for readiness.
	flows     uint64
	first     time.Time
	last      time.Time
	unlabeled bool
	// sel is exactSelector of this class alone: written once under its
	// nsIndex.mu, read without it.
	sel atomic.Pointer[selResult]
}

// get returns a label value by key.
func (c *class) get(key string) (string, bool) { return c.labels.Get(key) }

// workload groups the classes of one namespace sharing a workload key.
type workload struct {
	ns      string
	name    string
	key     string
	classes []*class
	sel     selector
	over    []*class // known classes the selector cannot exclude
	flows   uint64
	first   time.Time
	last    time.Time
	pods    []string
	ingress bool
	egress  bool
}

// nsIndex holds the classes and workloads of one namespace.
type nsIndex struct {
	mu        sync.Mutex // guards selCache
	name      string
	classes   []*class
	byKey     map[string]*class
	workloads []*workload
	byName    map[string]*workload
	selCache  map[string]*selResult
}

// index is every known identity in the evidence, by namespace.
type index struct {
	ns map[string]*nsIndex
	// byIdent finds a pod's class by namespace and numeric identity
	// without building its label key; labels are compared to be sure.
	byIdent map[identKey]identEntry
	// rawToClass maps "ns/labelkey" of a raw identity to its class.
	rawToClass map[string]*class
	byID       map[string]*class
	classes    []*class // by number
}

func newIndex() *index {
	return &index{ns: map[string]*nsIndex{}, rawToClass: map[string]*class{}, byID: map[string]*class{}, byIdent: map[identKey]identEntry{}}
}

func (ix *index) namespace(ns string) *nsIndex {
	n := ix.ns[ns]
	if n == nil {
		n = &nsIndex{name: ns, byKey: map[string]*class{}, byName: map[string]*workload{}, selCache: map[string]*selResult{}}
		ix.ns[ns] = n
	}
	return n
}

type identKey struct {
	ns string
	id flow.Identity
}

type identEntry struct {
	labels flow.Labels
	c      *class
}

// knownPod returns the class of an endpoint whose numeric identity and
// labels are those a pod was first seen with, else nil.
func (ix *index) knownPod(e *flow.Endpoint) *class {
	if e.Identity != flow.IdentityUnknown {
		if ent, ok := ix.byIdent[identKey{e.Namespace, e.Identity}]; ok && sameLabels(ent.labels, e.Labels) {
			return ent.c
		}
	}
	return nil
}

// classOf returns the class of a pod endpoint, or nil. It only reads the
// index, so edges can be resolved in parallel.
func (ix *index) classOf(e *flow.Endpoint) *class {
	if c := ix.knownPod(e); c != nil {
		return c
	}
	var buf [256]byte
	return ix.rawToClass[string(appendRawKey(buf[:0], e))]
}

// sameLabels is Labels.Equal, quick for the common case of endpoints
// sharing one label slice.
func sameLabels(a, b flow.Labels) bool {
	if len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0]) {
		return true
	}
	return a.Equal(b)
}

// isPod reports whether a policy can select the endpoint by labels: a pod
// with a namespace (an empty namespace names no CNP scope).
func isPod(e *flow.Endpoint) bool {
	return e.IsPod() && podNamespace(e) != ""
}

// appendRawKey identifies an identity as the evidence gives it.
func appendRawKey(b []byte, e *flow.Endpoint) []byte {
	return e.Labels.AppendKey(append(append(b, e.Namespace...), '/'))
}

// podNamespace returns the namespace of a pod endpoint: the namespace label
// wins over the Namespace field, since Cilium enforces on labels.
func podNamespace(e *flow.Endpoint) string {
	if ns, ok := e.Labels.Get(flow.LabelNamespace); ok {
		return ns
	}
	return e.Namespace
}

// identityLabels are the k8s-ish labels of a pod endpoint; reserved, cidr
// and fqdn labels describe no pod.
func identityLabels(e *flow.Endpoint) flow.Labels {
	out := make(flow.Labels, 0, len(e.Labels)+1)
	for _, l := range e.Labels {
		switch l.Source {
		case flow.SourceReserved, flow.SourceCIDR, flow.SourceFQDN:
			continue
		}
		out = append(out, l)
	}
	if _, ok := out.Get(flow.LabelNamespace); !ok {
		out = append(out, flow.Label{Source: flow.SourceK8s, Key: flow.LabelNamespace, Value: e.Namespace})
		out.Sort()
	}
	return out
}

// rawIdentity is one pod identity as observed, before classes are formed.
type rawIdentity struct {
	ns     string
	key    string
	labels flow.Labels
	wlName string // Endpoint.Workload, when the evidence knows it
	pods   []string
}

// rawSeen is the first label set seen with a numeric identity.
type rawSeen struct {
	labels flow.Labels
	r      *rawIdentity
}

// collectIdentities gathers the pod identities of the edges, and the first
// label set seen with each numeric identity. Each worker collects a
// contiguous part of the edges; parts merge in edge order, so the first
// sighting and the example pods are those of one pass.
func collectIdentities(edges []flow.Edge) (map[string]*rawIdentity, map[identKey]rawSeen) {
	parts := make([]identParts, max(1, min(runtime.GOMAXPROCS(0), len(edges)/4096)))
	size := (len(edges) + len(parts) - 1) / len(parts)
	inParallel(len(parts), func() func(int) {
		return func(i int) {
			parts[i] = collectPart(edges[min(i*size, len(edges)):min((i+1)*size, len(edges))])
		}
	})
	ids, byNum := parts[0].ids, parts[0].byNum
	for _, pt := range parts[1:] {
		for k, r := range pt.ids {
			if g := ids[k]; g != nil {
				addPods(g, r.pods)
			} else {
				ids[k] = r
			}
		}
		for nk, s := range pt.byNum {
			if _, ok := byNum[nk]; !ok {
				byNum[nk] = rawSeen{labels: s.labels, r: ids[s.r.key]}
			}
		}
	}
	return ids, byNum
}

type identParts struct {
	ids   map[string]*rawIdentity
	byNum map[identKey]rawSeen
}

func collectPart(edges []flow.Edge) identParts {
	ids := map[string]*rawIdentity{}
	// Most edges repeat identities already seen: find those by number
	// before building a label key.
	byNum := map[identKey]rawSeen{}
	var buf [256]byte
	add := func(e *flow.Endpoint, pods []string) {
		var r *rawIdentity
		nk := identKey{e.Namespace, e.Identity}
		// Only pods are recorded: one seen before needs no label checks.
		if s, ok := byNum[nk]; ok && e.Identity != flow.IdentityUnknown && sameLabels(s.labels, e.Labels) {
			r = s.r
		} else if !isPod(e) {
			return
		} else {
			k := appendRawKey(buf[:0], e)
			r = ids[string(k)]
			if r == nil {
				r = &rawIdentity{ns: podNamespace(e), key: string(k), labels: identityLabels(e), wlName: e.Workload}
				ids[r.key] = r
			}
			if !ok {
				byNum[nk] = rawSeen{labels: e.Labels, r: r}
			}
		}
		addPods(r, pods)
	}
	for i := range edges {
		add(&edges[i].Source, edges[i].SourcePods)
		add(&edges[i].Destination, edges[i].DestinationPods)
	}
	return identParts{ids, byNum}
}

// addPods keeps up to eight distinct example pods, first seen first.
func addPods(r *rawIdentity, pods []string) {
	for _, p := range pods {
		if len(r.pods) >= 8 {
			return
		}
		if !slices.Contains(r.pods, p) {
			r.pods = append(r.pods, p)
		}
	}
}

// workloadKey groups identities: the values of the preferred keys present,
// else the service account, else the whole stable label set.
func workloadKey(ls flow.Labels) (key, name string) {
	var parts []string
	for _, k := range preferredKeys {
		if v, ok := ls.Get(k); ok {
			parts = append(parts, k+"="+v)
			if name == "" {
				name = v
			}
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, ","), name
	}
	if sa, ok := ls.Get(flow.LabelServiceAccount); ok {
		return "sa=" + sa, sa
	}
	var rest []string
	for _, l := range ls {
		if selectable(l) {
			rest = append(rest, l.Key+"="+l.Value)
			if name == "" {
				name = l.Value
			}
		}
	}
	return "labels=" + strings.Join(rest, ","), name
}

// build forms classes and workloads from the raw identities.
func (ix *index) build(ids map[string]*rawIdentity, byNum map[identKey]rawSeen) {
	// Group raw identities by namespace and workload key first, so that
	// labels varying per run inside one group can be recognised.
	type group struct {
		ns, key, name string
		ids           []*rawIdentity
	}
	groups := map[string]*group{}
	for _, r := range ids {
		stable := make(flow.Labels, 0, len(r.labels))
		for _, l := range r.labels {
			if !unstableKeys[l.Key] {
				stable = append(stable, l)
			}
		}
		k, name := workloadKey(stable)
		g := groups[r.ns+"\x00"+k]
		if g == nil {
			g = &group{ns: r.ns, key: k, name: name}
			groups[r.ns+"\x00"+k] = g
		}
		g.ids = append(g.ids, r)
	}
	gkeys := make([]string, 0, len(groups))
	for k := range groups {
		gkeys = append(gkeys, k)
	}
	slices.Sort(gkeys)
	for _, gk := range gkeys {
		g := groups[gk]
		slices.SortFunc(g.ids, func(a, b *rawIdentity) int { return strings.Compare(a.key, b.key) })
		perRun := perRunKeys(g.ids)
		n := ix.namespace(g.ns)
		wl := &workload{ns: g.ns, key: g.key, name: g.name}
		if wl.name == "" {
			wl.name = g.ids[0].wlName
		}
		if wl.name == "" && len(g.ids[0].pods) > 0 {
			wl.name = podBase(g.ids[0].pods[0])
		}
		for _, r := range g.ids {
			ls := make(flow.Labels, 0, len(r.labels))
			for _, l := range r.labels {
				if !unstableKeys[l.Key] && !perRun[l.Key] {
					ls = append(ls, l)
				}
			}
			ck := ls.Key()
			c := n.byKey[ck]
			if c == nil {
				c = &class{ns: g.ns, nsIx: n, labels: ls, key: ck, id: "c:" + g.ns + "/" + ck, wl: wl, raw: map[string]bool{}}
				c.unlabeled = !hasSelectable(ls)
				n.byKey[ck] = c
				ix.byID[c.id] = c
				ix.classes = append(ix.classes, c)
				n.classes = append(n.classes, c)
				wl.classes = append(wl.classes, c)
			}
			c.raw[r.key] = true
			for _, p := range r.pods {
				if len(c.pods) < 8 && !slices.Contains(c.pods, p) {
					c.pods = append(c.pods, p)
				}
			}
			ix.rawToClass[r.key] = c
		}
		n.workloads = append(n.workloads, wl)
	}
	for _, n := range ix.ns {
		slices.SortFunc(n.classes, func(a, b *class) int { return strings.Compare(a.key, b.key) })
		nameWorkloads(n)
	}
	// Numbered in id order, so that numbers order pods as ids do.
	slices.SortFunc(ix.classes, func(a, b *class) int { return strings.Compare(a.id, b.id) })
	for i, c := range ix.classes {
		c.num = uint32(i)
	}
	// Filled once here so that classOf never writes while edges are
	// resolved in parallel.
	for k, s := range byNum {
		if k.id != flow.IdentityUnknown {
			ix.byIdent[k] = identEntry{labels: s.labels, c: ix.rawToClass[s.r.key]}
		}
	}
}

func hasSelectable(ls flow.Labels) bool {
	for _, l := range ls {
		if selectable(l) {
			return true
		}
	}
	return false
}

// perRunKeys finds labels whose value differs between identities of one
// workload and names their pods: per-run labels the default identity
// filter keeps (a CronJob's job-name under another key, a run id).
func perRunKeys(ids []*rawIdentity) map[string]bool {
	if len(ids) < 2 {
		return nil
	}
	out := map[string]bool{}
	values := map[string]map[string]bool{}
	for _, r := range ids {
		for _, l := range r.labels {
			if values[l.Key] == nil {
				values[l.Key] = map[string]bool{}
			}
			values[l.Key][l.Value] = true
		}
	}
	for key, vs := range values {
		if len(vs) < 2 || keyRank(key) < len(preferredKeys) {
			continue
		}
		all := true
		for _, r := range ids {
			v, ok := r.labels.Get(key)
			if ok && !perRunValue(v, r.pods) {
				all = false
				break
			}
		}
		if all {
			out[key] = true
		}
	}
	return out
}

// nameWorkloads gives each workload a unique DNS-safe name and sorts them.
func nameWorkloads(n *nsIndex) {
	slices.SortFunc(n.workloads, func(a, b *workload) int {
		return cmp.Or(strings.Compare(sanitizeName(a.name), sanitizeName(b.name)), strings.Compare(a.key, b.key))
	})
	used := map[string]int{}
	for _, wl := range n.workloads {
		base := sanitizeName(wl.name)
		name := base
		if used[base] > 0 {
			// Same name, different key (app=web,tier=a vs app=web,tier=b):
			// append the distinguishing values.
			name = sanitizeName(base + "-" + strings.ReplaceAll(strings.ReplaceAll(wl.key, ",", "-"), "=", "-"))
			for used[name] > 0 {
				name = sanitizeName(name + "-x")
			}
		}
		used[base]++
		used[name]++
		wl.name = name
		n.byName[name] = wl
	}
}

// podBase guesses the controller name from a pod name: the ReplicaSet hash
// and pod suffix of a Deployment's pod, or a StatefulSet ordinal, removed.
func podBase(pod string) string {
	parts := strings.Split(pod, "-")
	alnum := func(s string) bool {
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
				return false
			}
		}
		return s != ""
	}
	if n := len(parts); n > 1 && len(parts[n-1]) == 5 && alnum(parts[n-1]) {
		parts = parts[:n-1]
		if n := len(parts); n > 1 && len(parts[n-1]) >= 8 && len(parts[n-1]) <= 10 && alnum(parts[n-1]) {
			parts = parts[:n-1]
		}
	} else if n > 1 && strings.Trim(parts[n-1], "0123456789") == "" {
		parts = parts[:n-1]
	}
	return strings.Join(parts, "-")
}
