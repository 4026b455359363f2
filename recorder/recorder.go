//go:build linux

package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf/rlimit"
	"github.com/vishvananda/netlink"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Config configures a Recorder.
type Config struct {
	// Source delivers endpoint snapshots (file or Kubernetes).
	Source EndpointSource
	// PoliciesDir holds the staged policy set; empty means none (every
	// flow NOT_SELECTED).
	PoliciesDir string
	// Out is a file path ("" for none); Stdout receives deltas when Out is
	// "-".
	Out    string
	Stdout io.Writer
	// Interval between exports (and policy directory checks).
	Interval time.Duration
	// PinPath pins the flow and stats maps ("" to not pin).
	PinPath    string
	AttachMode bpf.AttachMode
	// FlowEntries sizes the flow table (0: the program's default).
	FlowEntries uint32
	Node        string
	// NetNS is the network namespace holding the pods' host-side
	// interfaces ("" for the agent's own, as with hostNetwork).
	NetNS   string
	Logger  *slog.Logger
	Metrics *Metrics
}

// Recorder is a running node agent.
type Recorder struct {
	cfg   Config
	log   *slog.Logger
	m     *Metrics
	objs  *bpf.Objects
	alloc *Allocator
	dns   *DNSCache

	mu          sync.Mutex
	eps         map[string]*Endpoint
	byIP        map[netip.Addr]*epState
	attached    map[string]*bpf.Attachment // by interface name
	engine      *policy.Engine
	facts       *policyFacts
	policySig   string
	applied     appliedState
	names       map[bpf.FlowKey][]string // responder names at flow start
	counted     map[bpf.FlowKey]uint64   // flows whose verdict was counted: the last scan that saw them
	scanGen     uint64                   // scans started
	lastScan    int                      // flows the last scan read
	exported    map[string]flow.Edge     // for stdout deltas
	dirty       bool                     // world classes need recomputing
	shadowCache shadowCache
	wake        chan struct{}
}

type epState struct {
	ep *Endpoint
	id flow.Identity
	// what every edge to or from the address shows, computed once: a
	// scan names each flow's two ends
	labels flow.Labels
	ip     string
}

type appliedState struct {
	endpoints map[netip.Addr]uint32
	cidrs     map[netip.Prefix]uint32
	subjects  map[subjectDir]uint8
	keys      map[bpf.ShadowKey]uint8
}

// New loads the datapath; Run attaches and records.
func New(cfg Config) (*Recorder, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising memlock limit: %w", err)
	}
	if cfg.PinPath != "" {
		if err := ensureBPFFS(filepath.Dir(cfg.PinPath)); err != nil {
			return nil, err
		}
	}
	objs, err := bpf.Load(bpf.Options{PinPath: cfg.PinPath, FlowEntries: cfg.FlowEntries})
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		cfg: cfg, log: cfg.Logger, m: cfg.Metrics, objs: objs,
		alloc: NewAllocator(), dns: NewDNSCache(),
		eps: map[string]*Endpoint{}, byIP: map[netip.Addr]*epState{},
		attached: map[string]*bpf.Attachment{},
		applied: appliedState{
			endpoints: map[netip.Addr]uint32{}, cidrs: map[netip.Prefix]uint32{},
			subjects: map[subjectDir]uint8{}, keys: map[bpf.ShadowKey]uint8{},
		},
		names:    map[bpf.FlowKey][]string{},
		counted:  map[bpf.FlowKey]uint64{},
		exported: map[string]flow.Edge{},
		wake:     make(chan struct{}, 1),
	}
	r.m.FlowMapSize.Set(float64(objs.FlowCapacity()))
	r.facts = &policyFacts{breaks: []uint16{0}}
	r.tick()
	return r, nil
}

// Objects exposes the datapath, for tests and benchmarks.
func (r *Recorder) Objects() *bpf.Objects { return r.objs }

// Run records until ctx ends, then exports once more and detaches.
func (r *Recorder) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.reloadPolicies(true); err != nil {
		return err
	}
	updates := make(chan []Endpoint, 1)
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	wg.Add(3)
	go func() { defer wg.Done(); errc <- r.cfg.Source.Run(ctx, updates) }()
	go func() { defer wg.Done(); errc <- r.readEvents(ctx) }()
	go func() { defer wg.Done(); errc <- r.readDNS(ctx) }()

	clock := time.NewTicker(200 * time.Millisecond)
	export := time.NewTicker(r.cfg.Interval)
	defer clock.Stop()
	defer export.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				runErr = err
				break loop
			}
		case eps := <-updates:
			if err := r.SetEndpoints(eps); err != nil {
				r.log.Error("applying endpoints", "err", err)
			}
		case <-clock.C:
			r.tick()
		case <-r.wake:
			if err := r.recompute(); err != nil {
				r.log.Error("updating shadow policy", "err", err)
			}
		case <-export.C:
			if err := r.reloadPolicies(false); err != nil {
				r.log.Error("reloading policies", "dir", r.cfg.PoliciesDir, "err", err)
			}
			if err := r.Export(); err != nil {
				r.log.Error("exporting edges", "err", err)
			}
		}
	}
	cancel()
	wg.Wait()
	if err := r.Export(); err != nil && runErr == nil {
		runErr = err
	}
	r.logSummary()
	return errors.Join(runErr, r.detachAll())
}

// logSummary reports what the maps hold and what the datapath lost, for
// the operator reading the agent's log at shutdown.
func (r *Recorder) logSummary() {
	st, err := r.objs.Stats()
	if err != nil {
		return
	}
	edges, err := r.Edges()
	if err != nil {
		return
	}
	var flows uint64
	for _, e := range edges {
		flows += e.Flows
	}
	r.log.Info("agent stopping", "edges", len(edges), "flows", flows,
		"packets", st[bpf.StatPackets], "events_lost", st[bpf.StatEventsLost],
		"dns_lost", st[bpf.StatDNSLost], "truncated", st[bpf.StatTruncated])
}

// Close releases the datapath objects (pinned maps stay).
func (r *Recorder) Close() error {
	return errors.Join(r.detachAll(), r.objs.Close())
}

func (r *Recorder) detachAll() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	err := inNetNS(r.cfg.NetNS, func() error {
		for name, a := range r.attached {
			errs = append(errs, a.Close())
			delete(r.attached, name)
		}
		return nil
	})
	r.m.Endpoints.Set(0)
	return errors.Join(append(errs, err)...)
}

func (r *Recorder) tick() {
	if err := r.objs.SetClock(uint64(monotonicNow())); err != nil {
		r.log.Warn("advancing datapath clock", "err", err)
	}
}

// SetEndpoints replaces the known endpoints: attaches to new interfaces,
// detaches from vanished ones, and updates identities and the shadow map.
func (r *Recorder) SetEndpoints(eps []Endpoint) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := map[string]*Endpoint{}
	byIP := map[netip.Addr]*epState{}
	for i := range eps {
		e := &eps[i]
		next[e.Key()] = e
		// clipped: edges share it, and an append must not reach another's
		labels := slices.Clip(e.IdentityLabels())
		id := r.alloc.Pod(labels)
		for _, ip := range e.IPs {
			byIP[ip] = &epState{ep: e, id: id, labels: labels, ip: ip.String()}
		}
	}
	want := map[string]bool{}
	for _, e := range next {
		if e.Interface != "" {
			want[e.Interface] = true
		}
	}
	var errs []error
	nsErr := inNetNS(r.cfg.NetNS, func() error {
		errs = r.attachLocked(want)
		return nil
	})
	r.eps, r.byIP = next, byIP
	r.m.Endpoints.Set(float64(len(r.attached)))
	return errors.Join(append(errs, nsErr, r.recomputeLocked())...)
}

// attachLocked attaches to the wanted interfaces and detaches from the
// rest; it runs inside the pods' network namespace.
func (r *Recorder) attachLocked(want map[string]bool) []error {
	var errs []error
	for name, a := range r.attached {
		if !want[name] {
			if err := a.Close(); err != nil {
				errs = append(errs, fmt.Errorf("detaching %s: %w", name, err))
			}
			delete(r.attached, name)
			r.log.Info("detached", "interface", name)
		}
	}
	for name := range want {
		if r.attached[name] != nil {
			continue
		}
		link, err := netlink.LinkByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("interface %s: %w", name, err))
			continue
		}
		a, err := r.objs.Attach(link.Attrs().Index, r.cfg.AttachMode)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.attached[name] = a
		r.log.Info("attached", "interface", name, "ifindex", a.Ifindex, "mode", a.Mode)
	}
	return errs
}

func (r *Recorder) recompute() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recomputeLocked()
}

// recomputeLocked derives the datapath state (endpoint identities, world
// classes, shadow table) and writes the difference to the kernel.
func (r *Recorder) recomputeLocked() error {
	r.dirty = false
	endpoints := map[netip.Addr]uint32{}
	var subjects, peers []peerClass
	seen := map[flow.Identity]bool{}
	keys := slices.Sorted(maps.Keys(r.eps))
	for _, k := range keys {
		e := r.eps[k]
		id := r.alloc.Pod(e.IdentityLabels())
		for _, ip := range e.IPs {
			endpoints[ip] = uint32(id)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		pc := peerClass{id: id, ep: flow.Endpoint{Identity: id, Namespace: e.Namespace, Labels: e.IdentityLabels()}}
		peers = append(peers, pc)
		if e.Interface != "" {
			subjects = append(subjects, pc)
		}
	}
	dnsIPs := map[netip.Addr][]string{}
	if r.facts.fqdn {
		now := time.Now()
		for _, ip := range r.dns.IPs() {
			if _, pod := endpoints[ip]; !pod {
				if names := r.dns.Names(ip, now); len(names) > 0 {
					dnsIPs[ip] = names
				}
			}
		}
	}
	cidrs, world := worldClasses(r.facts, r.alloc, dnsIPs)
	peers = append(peers, world...)
	table := compileShadow(r.engine, r.facts, subjects, peers, &r.shadowCache)
	return r.apply(endpoints, cidrs, table)
}

func (r *Recorder) apply(endpoints map[netip.Addr]uint32, cidrs map[netip.Prefix]uint32, t *shadowTable) error {
	var errs []error
	a := &r.applied
	for ip, id := range endpoints {
		if old, ok := a.endpoints[ip]; !ok || old != id {
			errs = append(errs, r.objs.SetEndpoint(ip, id))
		}
	}
	for ip := range a.endpoints {
		if _, ok := endpoints[ip]; !ok {
			errs = append(errs, r.objs.DeleteEndpoint(ip))
		}
	}
	a.endpoints = endpoints
	for p, id := range cidrs {
		if old, ok := a.cidrs[p]; !ok || old != id {
			errs = append(errs, r.objs.SetCIDR(p, id))
		}
	}
	for p := range a.cidrs {
		if _, ok := cidrs[p]; !ok {
			errs = append(errs, r.objs.DeleteCIDR(p))
		}
	}
	a.cidrs = cidrs
	keys := map[bpf.ShadowKey]uint8{}
	for row := range t.rows {
		e := bpf.ShadowEntry{Subject: row.Subject, Peer: row.Peer, Dir: row.Dir, Proto: row.Proto, PortLo: row.Lo, PortHi: row.Hi, Verdict: row.Verdict}
		for _, k := range e.Keys() {
			keys[k] = row.Verdict
		}
	}
	// Allow entries go in before subjects turn on default AUDIT, and come
	// out after they turn off, so a reload never flags allowed traffic.
	for k, v := range keys {
		if old, ok := a.keys[k]; !ok || old != v {
			errs = append(errs, r.objs.ShadowMap().Put(k, v))
		}
	}
	for s, v := range t.subjects {
		if old, ok := a.subjects[s]; !ok || old != v {
			errs = append(errs, r.objs.SetSubject(s.ID, s.Dir, v))
		}
	}
	for s := range a.subjects {
		if _, ok := t.subjects[s]; !ok {
			errs = append(errs, ignoreMissing(r.objs.SubjectMap().Delete(bpf.SubjectKey{Identity: s.ID, Dir: s.Dir})))
		}
	}
	for k := range a.keys {
		if _, ok := keys[k]; !ok {
			errs = append(errs, ignoreMissing(r.objs.ShadowMap().Delete(k)))
		}
	}
	a.subjects, a.keys = t.subjects, keys
	// the setters bump the policy generation themselves; the direct
	// shadow and subject map writes need this one
	errs = append(errs, r.objs.PolicyChanged())
	r.m.ShadowEntries.Set(float64(len(keys)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("writing datapath maps: %w", err)
	}
	return nil
}

// reloadPolicies loads the staged set when the directory changed. A bad
// set is reported and the previous one kept; at start it is an error.
func (r *Recorder) reloadPolicies(initial bool) error {
	if r.cfg.PoliciesDir == "" {
		return nil
	}
	sig, err := dirSignature(r.cfg.PoliciesDir)
	if err != nil {
		return err
	}
	r.mu.Lock()
	same := sig == r.policySig
	r.mu.Unlock()
	if same {
		return nil
	}
	var ps []*policy.Policy
	if sig != "" {
		// an empty directory is an empty staged set, not an error
		ps, err = policy.LoadPath(r.cfg.PoliciesDir)
	}
	var eng *policy.Engine
	var facts *policyFacts
	if err == nil {
		eng, err = policy.Compile(ps, policy.CompileOptions{AsEnforced: true})
	}
	if err == nil {
		facts, err = factsOf(ps)
	}
	if err != nil {
		r.m.PolicyReloads.WithLabelValues("error").Inc()
		r.mu.Lock()
		r.policySig = sig // do not retry until it changes again
		r.mu.Unlock()
		if initial {
			return fmt.Errorf("loading staged policies: %w", err)
		}
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.engine, r.facts, r.policySig = eng, facts, sig
	r.m.PolicyReloads.WithLabelValues("ok").Inc()
	r.log.Info("staged policies loaded", "dir", r.cfg.PoliciesDir, "policies", len(ps))
	return r.recomputeLocked()
}

// dirSignature changes whenever a file under dir is added, removed or
// modified.
func dirSignature(dir string) (string, error) {
	var b []byte
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b = fmt.Appendf(b, "%s|%d|%d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading policy directory: %w", err)
	}
	return string(b), nil
}
