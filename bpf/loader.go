//go:build linux

package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Generated types under stable names for the recorder and tests.
type (
	FlowKey     = postureFlowKey
	FlowKey4    = postureFlowKey4
	FlowValue   = postureFlowValue
	FlowEvent   = postureFlowEvent
	DNSEvent    = postureDnsEvent
	ShadowKey   = postureShadowKey
	CIDRKey     = postureCidrKey
	SubjectKey  = postureSubjectKey
	EndpointKey = postureEndpointKey
	StatIndex   = postureStatIndex
)

// Stats indexes, from the C enum.
const (
	StatPackets          = postureStatIndexSTAT_PACKETS
	StatNewFlows         = postureStatIndexSTAT_NEW_FLOWS
	StatNonIP            = postureStatIndexSTAT_NON_IP
	StatTruncated        = postureStatIndexSTAT_TRUNCATED
	StatFragments        = postureStatIndexSTAT_FRAGMENTS
	StatFragUnknown      = postureStatIndexSTAT_FRAG_UNKNOWN
	StatRelated          = postureStatIndexSTAT_RELATED
	StatFlowUpdateFailed = postureStatIndexSTAT_FLOW_UPDATE_FAILED
	StatEventsLost       = postureStatIndexSTAT_EVENTS_LOST
	StatDNSCopied        = postureStatIndexSTAT_DNS_COPIED
	StatDNSLost          = postureStatIndexSTAT_DNS_LOST
	StatMax              = postureStatIndexSTAT_MAX
)

// StatNames names the stats for metrics and logs.
var StatNames = [StatMax]string{
	"packets", "new_flows", "non_ip", "truncated", "fragments", "fragment_unknown",
	"related", "flow_update_failed", "events_lost", "dns_copied", "dns_lost",
}

// DefaultPinPath is where the agent pins its maps when bpffs is at the
// usual place.
const DefaultPinPath = "/sys/fs/bpf/posture"

// Options tune loading.
type Options struct {
	// PinPath pins the flow and stats maps there (creating the directory,
	// reusing maps already pinned) so counts survive an agent restart.
	// Empty means no pinning.
	PinPath string
	// FlowEntries overrides the flow map's size (0 keeps the default).
	FlowEntries uint32
}

// Objects are the loaded programs and maps.
type Objects struct {
	objs postureObjects
	tab  *table
	ev   *events
	ep   *epTable
	// genMu orders policy-generation bumps, so the generation the
	// program sees only ever moves to a value no cached verdict carries.
	genMu sync.Mutex
	gen   uint32
}

// Load loads the programs and maps into the kernel.
func Load(opts Options) (*Objects, error) {
	spec, err := loadPosture()
	if err != nil {
		return nil, fmt.Errorf("reading embedded object: %w", err)
	}
	if opts.FlowEntries > 0 {
		if err := sizeFlows(spec, opts.FlowEntries); err != nil {
			return nil, err
		}
	}
	if err := sizeEvents(spec); err != nil {
		return nil, err
	}
	if inOrder() {
		if err := spec.Variables["ep_fast"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("setting up endpoint table: %w", err)
		}
	}
	var co ebpf.CollectionOptions
	if opts.PinPath == "" {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	} else {
		if err := os.MkdirAll(opts.PinPath, 0o700); err != nil {
			return nil, fmt.Errorf("creating pin directory: %w", err)
		}
		co.Maps.PinPath = opts.PinPath
	}
	o := &Objects{}
	if err := spec.LoadAndAssign(&o.objs, &co); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading objects: %+v", ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("loading objects: pinned maps under %s do not match this version (remove them to start over): %w", opts.PinPath, err)
		}
		return nil, fmt.Errorf("loading objects: %w", err)
	}
	if o.ep, err = openEpTable(&o.objs); err != nil {
		o.Close()
		return nil, err
	}
	if o.ev, err = openEvents(&o.objs); err != nil {
		o.Close()
		return nil, err
	}
	if o.tab, err = openTable(&o.objs); err != nil {
		o.Close()
		return nil, err
	}
	// nothing is attached yet: entries a stopped agent's CPUs held are
	// free again
	o.tab.recover()
	if err := o.PolicyChanged(); err != nil {
		o.Close()
		return nil, err
	}
	if opts.PinPath != "" {
		if err := o.migrateV4(); err != nil {
			o.Close()
			return nil, err
		}
	}
	return o, nil
}

// migrateV4 moves IPv4 flows pinned by a version that kept them in
// posture_flows into posture_flows4, where the program now counts them,
// so an upgrade neither restarts their counts nor reports them twice.
func (o *Objects) migrateV4() error {
	var (
		k    FlowKey
		v    FlowValue
		keys []FlowKey
		vals []FlowValue
	)
	it := o.objs.PostureFlows.Iterate()
	for it.Next(&k, &v) {
		if isV4Mapped(k.AddrA) && isV4Mapped(k.AddrB) {
			keys, vals = append(keys, k), append(vals, v)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading pinned flow map: %w", err)
	}
	for i := range keys {
		if err := o.objs.PostureFlows4.Update(key4(&keys[i]), &vals[i], ebpf.UpdateNoExist); err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
			return fmt.Errorf("moving pinned IPv4 flows: %w", err)
		}
		if err := o.objs.PostureFlows.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("moving pinned IPv4 flows: %w", err)
		}
	}
	return nil
}

func isV4Mapped(a [16]byte) bool {
	return a[10] == 0xff && a[11] == 0xff && [10]byte(a[:10]) == [10]byte{}
}

func key4(k *FlowKey) *FlowKey4 {
	return &FlowKey4{
		AddrA: [4]uint8(k.AddrA[12:]), AddrB: [4]uint8(k.AddrB[12:]),
		PortA: k.PortA, PortB: k.PortB, Proto: k.Proto, Dir: k.Dir,
	}
}

// key16 turns an IPv4 key into the IPv4-mapped form of FlowKey, the
// form ring-buffer events carry.
func key16(k4 *FlowKey4, k *FlowKey) {
	*k = FlowKey{PortA: k4.PortA, PortB: k4.PortB, Proto: k4.Proto, Dir: k4.Dir}
	k.AddrA[10], k.AddrA[11] = 0xff, 0xff
	k.AddrB[10], k.AddrB[11] = 0xff, 0xff
	copy(k.AddrA[12:], k4.AddrA[:])
	copy(k.AddrB[12:], k4.AddrB[:])
}

// sizeFlows gives the flow table's pool room for n flows, its buckets
// eight ways for every eight of them (rounded up to a power of two), and
// each LRU map, which takes the flows the table cannot, an eighth of n.
func sizeFlows(spec *ebpf.CollectionSpec, n uint32) error {
	if n > ftMaxSlots {
		return fmt.Errorf("sizing flow table: %d flows, at most %d", n, ftMaxSlots)
	}
	buckets := uint32(1)
	for buckets*ftWays < n {
		buckets <<= 1
	}
	if err := spec.Variables["ft_mask"].Set(buckets - 1); err != nil {
		return fmt.Errorf("sizing flow table: %w", err)
	}
	if err := spec.Variables["ft_slots"].Set(n); err != nil {
		return fmt.Errorf("sizing flow table: %w", err)
	}
	if err := spec.Variables["ft_ring_mask"].Set(buckets*ftWays - 1); err != nil {
		return fmt.Errorf("sizing flow table: %w", err)
	}
	spec.Maps["posture_fttags"].MaxEntries = buckets
	spec.Maps["posture_flowtab"].MaxEntries = n
	spec.Maps["posture_ftfree"].MaxEntries = buckets * ftWays
	spec.Maps["posture_flows"].MaxEntries = max(n/8, 1024)
	spec.Maps["posture_flows4"].MaxEntries = max(n/8, 1024)
	return nil
}

// inOrder reports whether this CPU keeps loads in order and stores in
// order (x86), which the event rings' plain publishing and the endpoint
// table's unlocked reads rely on.
func inOrder() bool { return runtime.GOARCH == "amd64" || runtime.GOARCH == "386" }

// sizeEvents gives every possible CPU an event ring. Where stores may
// become visible out of order, the program publishes each event with an
// atomic exchange instead of a plain store.
func sizeEvents(spec *ebpf.CollectionSpec) error {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return fmt.Errorf("sizing event rings: %w", err)
	}
	spec.Maps["posture_evctl"].MaxEntries = uint32(ncpu)
	spec.Maps["posture_evring"].MaxEntries = uint32(ncpu * evPerCPU)
	if !inOrder() {
		if err := spec.Variables["ev_ordered_publish"].Set(uint8(1)); err != nil {
			return fmt.Errorf("sizing event rings: %w", err)
		}
	}
	return nil
}

// TableUsage is how many flows the flow table holds (entries taken)
// against its capacity; the LRU maps behind it are not counted.
func (o *Objects) TableUsage() (used, capacity int) {
	return o.tab.usage(), o.tab.nslots
}

// Reclaim frees the flow-table entries of the flows pick chooses, as an
// LRU map evicts: they disappear from ReadFlows at once, and a later
// packet of one starts a new flow. Their entries are reused after the
// next Reclaim or ReleaseReclaimed.
func (o *Objects) Reclaim(pick func(*FlowKey, *FlowValue) bool) (int, error) {
	return o.tab.reclaim(pick)
}

// ReleaseReclaimed makes the entries of flows reclaimed before free for
// new flows; call it a while after Reclaim (the next export), when no
// program can still be counting into them.
func (o *Objects) ReleaseReclaimed() { o.tab.release() }

// PolicyChanged tells the program that the endpoint, CIDR, subject or
// shadow maps changed, so verdicts it cached for new flows are stale.
// Every setter here calls it; callers writing ShadowMap or SubjectMap
// directly must call it once done.
func (o *Objects) PolicyChanged() error {
	o.genMu.Lock()
	defer o.genMu.Unlock()
	o.gen++
	if o.gen == 0 {
		o.gen = 1 // zero switches the cache off
	}
	if err := o.objs.PolicyGen.Set(o.gen); err != nil {
		return fmt.Errorf("bumping policy generation: %w", err)
	}
	return nil
}

// Close releases programs and maps (pinned maps stay pinned).
func (o *Objects) Close() error {
	if o.tab != nil {
		o.tab.close()
	}
	if o.ev != nil {
		o.ev.close()
	}
	if o.ep != nil {
		o.ep.close()
	}
	return o.objs.Close()
}

// Unpin removes the pinned maps under dir, for tests and for a clean
// uninstall.
func Unpin(dir string) error {
	for _, name := range []string{"posture_fttags", "posture_flowtab", "posture_ftpool", "posture_ftfree", "posture_flows4", "posture_flows", "posture_stats"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unpinning: %w", err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return fmt.Errorf("removing pin directory: %w", err)
	}
	return nil
}

// FromPod observes packets a pod sends (host-side veth ingress).
func (o *Objects) FromPod() *ebpf.Program { return o.objs.FromPod }

// ToPod observes packets delivered to a pod (host-side veth egress).
func (o *Objects) ToPod() *ebpf.Program { return o.objs.ToPod }

// Empty does nothing; the benchmark baseline.
func (o *Objects) Empty() *ebpf.Program { return o.objs.Empty }

// FlowCapacity is how many flows the table and the LRU maps behind it
// hold; read them with ReadFlows.
func (o *Objects) FlowCapacity() uint32 {
	return o.objs.PostureFlowtab.MaxEntries() + o.objs.PostureFlows.MaxEntries() + o.objs.PostureFlows4.MaxEntries()
}

// DrainEvents calls fn for every new-flow announcement waiting on the
// per-CPU event rings, each CPU's in order, and hands their slots back
// to the program. It reports how many it read and how full the fullest
// ring was (0 to 1) before the drain, so a poller can poll sooner. The
// program never waits for a reader: a full ring loses announcements
// (StatEventsLost), never flows.
func (o *Objects) DrainEvents(fn func(*FlowEvent)) (n int, fullest float64) {
	return o.ev.drain(fn)
}

// DNSEvents is the DNS-answer ring buffer (DNSEvent records).
func (o *Objects) DNSEvents() *ebpf.Map { return o.objs.DnsEvents }

// Stats returns the per-CPU counters summed over CPUs.
func (o *Objects) Stats() ([StatMax]uint64, error) {
	var out [StatMax]uint64
	for i := range StatMax {
		var per []uint64
		if err := o.objs.PostureStats.Lookup(uint32(i), &per); err != nil {
			return out, fmt.Errorf("reading stat %s: %w", StatNames[i], err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// SetEndpoint maps a pod address to its identity.
func (o *Objects) SetEndpoint(a netip.Addr, id uint32) error {
	k := Addr16(a)
	if err := o.objs.Endpoints.Put(EndpointKey{Addr: k}, id); err != nil {
		return o.changed(err)
	}
	o.ep.put(k, id)
	return o.changed(nil)
}

// changed bumps the policy generation after a map write, whatever the
// write's outcome: a failed update may still have changed the map.
func (o *Objects) changed(err error) error {
	return errors.Join(err, o.PolicyChanged())
}

// DeleteEndpoint forgets a pod address.
func (o *Objects) DeleteEndpoint(a netip.Addr) error {
	err := o.objs.Endpoints.Delete(EndpointKey{Addr: Addr16(a)})
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return o.changed(err)
	}
	o.ep.del(Addr16(a))
	if err != nil {
		return nil
	}
	return o.changed(nil)
}

// SetCIDR maps a world prefix (a CIDR class, or a /32 learned from DNS) to
// an identity.
func (o *Objects) SetCIDR(p netip.Prefix, id uint32) error {
	return o.changed(o.objs.WorldCidrs.Put(CIDRKey{Prefixlen: CIDRPrefixLen(p), Addr: Addr16(p.Masked().Addr())}, id))
}

// DeleteCIDR forgets a world prefix.
func (o *Objects) DeleteCIDR(p netip.Prefix) error {
	err := o.objs.WorldCidrs.Delete(CIDRKey{Prefixlen: CIDRPrefixLen(p), Addr: Addr16(p.Masked().Addr())})
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return o.changed(err)
}

// SetSubject marks an identity as selected by the staged set in dir, with
// def the verdict for traffic no entry matches (AUDIT under default deny).
func (o *Objects) SetSubject(id uint32, dir, def uint8) error {
	return o.changed(o.objs.Subjects.Put(SubjectKey{Identity: id, Dir: dir}, def))
}

// ShadowEntry is one (subject, peer, dir, proto, port range) verdict.
type ShadowEntry struct {
	Subject, Peer uint32
	Dir, Proto    uint8
	PortLo        uint16
	PortHi        uint16
	Verdict       uint8
}

// Keys expands the entry into LPM keys.
func (e ShadowEntry) Keys() []ShadowKey {
	var out []ShadowKey
	for _, pp := range PortPrefixes(e.PortLo, e.PortHi) {
		out = append(out, ShadowKey{
			Prefixlen: uint32(80 + pp.Bits),
			Subject:   e.Subject,
			Peer:      e.Peer,
			Dir:       e.Dir,
			Proto:     e.Proto,
			Port:      htons(pp.Port),
		})
	}
	return out
}

// PutShadow writes one shadow entry.
func (o *Objects) PutShadow(e ShadowEntry) error {
	for _, k := range e.Keys() {
		if err := o.objs.ShadowPolicy.Put(k, e.Verdict); err != nil {
			return o.changed(fmt.Errorf("writing shadow policy: %w", err))
		}
	}
	return o.PolicyChanged()
}

// ShadowMap and SubjectMap are exposed for the recorder's bulk
// replacement of the compiled policy; call PolicyChanged after writing.
func (o *Objects) ShadowMap() *ebpf.Map  { return o.objs.ShadowPolicy }
func (o *Objects) SubjectMap() *ebpf.Map { return o.objs.Subjects }

// Conn turns a canonical key into the initiator's orientation.
func (k *postureFlowKey) Conn(initiatorIsB uint8) Conn {
	c := Conn{
		Src: AddrFrom16(k.AddrA), Dst: AddrFrom16(k.AddrB),
		SrcPort: Ntohs(k.PortA), DstPort: Ntohs(k.PortB),
		Proto: k.Proto, Dir: k.Dir,
	}
	if initiatorIsB != 0 {
		c.Src, c.Dst = c.Dst, c.Src
		c.SrcPort, c.DstPort = c.DstPort, c.SrcPort
		c.Dir = flip(c.Dir)
	}
	return c
}

// DNSMaxPayload bounds the bytes of one DNS answer copied to user space.
const DNSMaxPayload = len(DNSEvent{}.Data)

// DecodeDNSEvent reads a ring-buffer record from DNSEvents.
func DecodeDNSEvent(b []byte) (*DNSEvent, error) {
	var ev DNSEvent
	if err := binary.Read(bytes.NewReader(b), binary.NativeEndian, &ev); err != nil {
		return nil, fmt.Errorf("decoding dns event: %w", err)
	}
	if int(ev.Caplen) > DNSMaxPayload {
		return nil, fmt.Errorf("decoding dns event: caplen %d over %d", ev.Caplen, DNSMaxPayload)
	}
	return &ev, nil
}

// SetClock advances the coarse clock the per-packet path stamps last-seen
// times with (CLOCK_MONOTONIC nanoseconds).
func (o *Objects) SetClock(ns uint64) error {
	return o.objs.ClockNs.Set(ns)
}

// ReadFlows calls fn for every flow: those in the flow table, then those
// in the LRU maps (IPv4 keys in their IPv4-mapped FlowKey form), reading
// the maps in batches (one system call per 4096 entries instead of two
// per entry) where the kernel supports it. The key and value are only
// valid during the call: fn copies what it keeps.
func (o *Objects) ReadFlows(fn func(*FlowKey, *FlowValue)) error {
	if err := o.tab.read(func(_, _ int, _ uint64, k *FlowKey, v *FlowValue) { fn(k, v) }); err != nil {
		return err
	}
	if err := readMap(o.objs.PostureFlows, fn); err != nil {
		return err
	}
	var k FlowKey
	return readMap(o.objs.PostureFlows4, func(k4 *FlowKey4, v *FlowValue) {
		key16(k4, &k)
		fn(&k, v)
	})
}

func readMap[K any](m *ebpf.Map, fn func(*K, *FlowValue)) error {
	const batch = 4096
	keys := make([]K, batch)
	vals := make([]FlowValue, batch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, keys, vals, nil)
		for i := range n {
			fn(&keys[i], &vals[i])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if errors.Is(err, ebpf.ErrNotSupported) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading flow map: %w", err)
		}
	}
	var (
		k K
		v FlowValue
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(&k, &v)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading flow map: %w", err)
	}
	return nil
}
