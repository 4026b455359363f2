//go:build linux

package recorder

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// pollInterval bounds how long an announcement waits to be read: the
// event rings are polled (DNS answers, which must be read before the
// connection they name, wake their reader).
const pollInterval = 100 * time.Millisecond

func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// wallTime converts the datapath's monotonic nanoseconds to wall time.
func wallTime(mono uint64, nowWall time.Time, nowMono int64) time.Time {
	if mono == 0 {
		return time.Time{}
	}
	return nowWall.Add(time.Duration(int64(mono) - nowMono)).UTC()
}

func ignoreMissing(err error) error {
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// readRing reads records until ctx ends, polling so records submitted
// without a wakeup are drained.
func readRing(ctx context.Context, m *ebpf.Map, fn func([]byte)) error {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return fmt.Errorf("opening ring buffer: %w", err)
	}
	go func() { <-ctx.Done(); rd.Close() }()
	var rec ringbuf.Record
	for {
		rd.SetDeadline(time.Now().Add(pollInterval))
		err := rd.ReadInto(&rec)
		switch {
		case err == nil:
			fn(rec.RawSample)
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading ring buffer: %w", err)
		}
	}
}

// readEvents drains the datapath's per-CPU event rings until ctx ends:
// every pollInterval, and ten times as often while a ring was more than
// a quarter full, so a burst of new flows does not overrun them. Events
// are copied out and handed to another goroutine, because taking them
// waits for the recorder's lock, which an export holds for a while.
func (r *Recorder) readEvents(ctx context.Context) error {
	batches := make(chan []bpf.FlowEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range batches {
			r.flowEvents(b)
		}
	}()
	defer func() { close(batches); <-done }()
	for {
		var batch []bpf.FlowEvent
		_, fullest := r.objs.DrainEvents(func(ev *bpf.FlowEvent) { batch = append(batch, *ev) })
		if len(batch) > 0 {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return nil
			}
		}
		wait := pollInterval
		if fullest > 0.25 {
			wait = pollInterval / 10
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// flowEvents takes new flows' announcements: the DNS names each
// destination has now, and the flow and verdict metrics.
func (r *Recorder) flowEvents(evs []bpf.FlowEvent) {
	now := time.Now()
	names := make([][]string, len(evs))
	for i := range evs {
		names[i] = r.dns.Names(evs[i].Key.Conn(evs[i].InitiatorIsB).Dst, now)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range evs {
		ev := &evs[i]
		if len(names[i]) > 0 {
			r.names[ev.Key] = names[i]
		}
		// every event is a new connection (a reused 4-tuple sends
		// another); stamped with the scan under way, if any, so it does
		// not forget it
		r.counted[ev.Key] = r.scanGen
		r.countLocked(ev.Key.Conn(ev.InitiatorIsB), ev.Verdict)
	}
}

// countLocked updates the flow and verdict metrics for a new flow.
func (r *Recorder) countLocked(c bpf.Conn, verdict uint8) {
	dir, subject := "egress", c.Src
	if c.Dir == bpf.DirIngress {
		dir, subject = "ingress", c.Dst
	}
	ns := ""
	if st := r.byIP[subject]; st != nil {
		ns = st.ep.Namespace
	}
	r.m.FlowsObserved.WithLabelValues(dir).Inc()
	r.m.Verdicts.WithLabelValues(ns, dir, verdictName(verdict)).Inc()
}

func verdictName(v uint8) string {
	switch v {
	case bpf.VerdictAllowed:
		return "allowed"
	case bpf.VerdictAudit:
		return "audit"
	case bpf.VerdictNotSelected:
		return "not_selected"
	}
	return "unknown"
}

func (r *Recorder) readDNS(ctx context.Context) error {
	return readRing(ctx, r.objs.DNSEvents(), func(b []byte) {
		ev, err := bpf.DecodeDNSEvent(b)
		if err != nil {
			r.m.DNSAnswers.WithLabelValues("rejected").Inc()
			return
		}
		as, err := ParseDNSPayload(ev.Proto == bpf.ProtoTCP, ev.Data[:ev.Caplen], int(ev.Len))
		if err != nil && len(as) == 0 {
			r.m.DNSAnswers.WithLabelValues("rejected").Inc()
			r.log.Debug("dns answer rejected", "from", bpf.AddrFrom16(ev.Saddr), "err", err)
			return
		}
		r.m.DNSAnswers.WithLabelValues("parsed").Inc()
		changed := r.dns.Add(time.Now(), as)
		r.mu.Lock()
		fqdn := r.facts.fqdn
		r.mu.Unlock()
		if len(changed) > 0 && fqdn {
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	})
}

// scan reads the flow map into observations and refreshes the map and
// datapath metrics. The kernel map is read without holding the recorder's
// lock, so the ring-buffer readers keep draining during a long scan.
func (r *Recorder) scan() ([]observation, error) {
	nowWall, nowMono := time.Now(), monotonicNow()
	type entry struct {
		k bpf.FlowKey
		v bpf.FlowValue
	}
	r.mu.Lock()
	r.scanGen++
	gen, raw := r.scanGen, make([]entry, 0, r.lastScan+r.lastScan/8)
	r.mu.Unlock()
	// entries reclaimed at the previous scan are past any use by now
	r.objs.ReleaseReclaimed()
	if err := r.objs.ReadFlows(func(k *bpf.FlowKey, v *bpf.FlowValue) {
		raw = append(raw, entry{*k, *v})
	}); err != nil {
		return nil, err
	}
	if used, capacity := r.objs.TableUsage(); used > capacity/10*9 {
		last := make([]uint64, len(raw))
		for i := range raw {
			last[i] = raw[i].v.LastNs
		}
		r.reclaim(last, used-capacity/4*3)
	}
	out := make([]observation, 0, len(raw))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastScan = len(raw)
	for i := range raw {
		k, v := &raw[i].k, &raw[i].v
		c := k.Conn(v.InitiatorIsB)
		o := observation{
			Conn: c, PacketsFwd: v.PacketsFwd, BytesFwd: v.BytesFwd,
			PacketsRev: v.PacketsRev, BytesRev: v.BytesRev,
			First: wallTime(v.FirstNs, nowWall, nowMono), Last: wallTime(v.LastNs, nowWall, nowMono),
			SrcID: v.SrcIdentity, DstID: v.DstIdentity, Verdict: v.Verdict, Flags: v.Flags,
			Conns: v.Conns, Names: r.names[*k],
		}
		if o.Last.Before(o.First) {
			o.Last = o.First
		}
		if o.Names == nil && r.byIP[c.Dst] == nil {
			o.Names = r.dns.Names(c.Dst, nowWall)
		}
		r.reviewLocked(&o)
		if _, ok := r.counted[*k]; !ok {
			// its event was lost or not read yet: the map has it anyway
			r.countLocked(c, v.Verdict)
		}
		r.counted[*k] = gen
		out = append(out, o)
	}
	// flows gone from the maps since the last scan (and not announced
	// during this one)
	for k, seen := range r.counted {
		if seen < gen {
			delete(r.counted, k)
			delete(r.names, k)
		}
	}
	r.m.FlowMapEntries.Set(float64(len(out)))
	if capacity := r.objs.FlowCapacity(); uint32(len(out)) > capacity/10*9 {
		// an LRU map this full evicts the oldest flows before an export
		// can see them: give it more entries or export more often
		r.log.Warn("flow map nearly full", "entries", len(out), "capacity", capacity)
	}
	if st, err := r.objs.Stats(); err == nil {
		for i, n := range st {
			r.m.Datapath.WithLabelValues(bpf.StatNames[i]).Set(float64(n))
		}
		r.m.RingLost.WithLabelValues("events").Set(float64(st[bpf.StatEventsLost]))
		r.m.RingLost.WithLabelValues("dns").Set(float64(st[bpf.StatDNSLost]))
	}
	return out, nil
}

// reclaim lets the kernel flow table forget the n flows seen longest ago,
// as an LRU map evicts, so that new flows keep finding room in it rather
// than in the slower LRU maps behind it. This scan has them, so the export
// it serves still shows them; later ones do not.
func (r *Recorder) reclaim(last []uint64, n int) {
	if n <= 0 || len(last) == 0 {
		return
	}
	slices.Sort(last)
	cut := last[min(n, len(last))-1]
	got, err := r.objs.Reclaim(func(_ *bpf.FlowKey, v *bpf.FlowValue) bool { return v.LastNs <= cut })
	if err != nil {
		r.log.Warn("reclaiming flow table entries", "err", err)
	}
	r.m.Reclaimed.Add(float64(got))
	r.log.Info("flow table nearly full: reclaimed least recently seen flows", "flows", got)
}

// Edges returns the edges recorded so far (every flow in the kernel map).
func (r *Recorder) Edges() ([]flow.Edge, error) {
	obs, err := r.scan()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return buildEdges(obs, r.viewLocked), nil
}

func (r *Recorder) viewLocked(a netip.Addr, id uint32) flow.Endpoint {
	if st := r.byIP[a]; st != nil {
		return flow.Endpoint{
			Identity: st.id, Namespace: st.ep.Namespace, Pod: st.ep.Pod, Workload: st.ep.Workload,
			Labels: st.labels, IP: st.ip,
		}
	}
	return flow.Endpoint{Identity: flow.IdentityWorld, IP: a.String()}
}

// Export writes the edges: the full snapshot to a file (replaced
// atomically), or the change since the last export to stdout.
func (r *Recorder) Export() error {
	if r.cfg.Out == "" {
		_, err := r.scan()
		return err
	}
	edges, err := r.Edges()
	if err != nil {
		r.m.Exports.WithLabelValues("error").Inc()
		return err
	}
	if r.cfg.Out == "-" {
		w := flow.NewWriter(r.cfg.Stdout)
		for _, e := range edges {
			id := edgeID(&e)
			var prev *flow.Edge
			if p, ok := r.exported[id]; ok {
				prev = &p
			}
			r.exported[id] = e
			if d, ok := edgeDelta(e, prev); ok {
				if err := w.WriteEdge(&d); err != nil {
					return err
				}
			}
		}
		err = w.Flush()
	} else {
		err = writeEdgesFile(r.cfg.Out, edges)
	}
	if err != nil {
		r.m.Exports.WithLabelValues("error").Inc()
		return err
	}
	r.m.Exports.WithLabelValues("ok").Inc()
	return nil
}

func writeEdgesFile(path string, edges []flow.Edge) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".posture-edges-*")
	if err != nil {
		return fmt.Errorf("writing edges: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := flow.NewWriter(tmp)
	for i := range edges {
		if err := w.WriteEdge(&edges[i]); err != nil {
			tmp.Close()
			return fmt.Errorf("writing edges: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing edges: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing edges: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing edges: %w", err)
	}
	return nil
}

// ensureBPFFS mounts bpffs at dir when something else (or nothing) is
// mounted there.
func ensureBPFFS(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err == nil && st.Type == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := unix.Mount("bpffs", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mounting bpffs at %s: %w", dir, err)
	}
	return nil
}

// reviewLocked re-decides an AUDIT verdict on a connection to a named
// world address: the datapath decided on the first packet, which can beat
// the DNS answer's trip through user space into the maps by a moment.
func (r *Recorder) reviewLocked(o *observation) {
	c := o.Conn
	if o.Verdict != bpf.VerdictAudit || c.Dir != bpf.DirEgress || len(o.Names) == 0 || r.engine == nil || r.byIP[c.Dst] != nil {
		return
	}
	src := r.byIP[c.Src]
	if src == nil {
		return
	}
	f := flow.Flow{
		Source:      flow.Endpoint{Identity: src.id, Namespace: src.ep.Namespace, Labels: src.ep.IdentityLabels()},
		Destination: flow.Endpoint{Identity: flow.IdentityWorld, IP: c.Dst.String(), Names: o.Names},
		Protocol:    protoName(c.Proto),
	}
	if f.Protocol == flow.ProtoICMP || f.Protocol == flow.ProtoICMPv6 {
		f.ICMPType = uint8(c.DstPort)
	} else {
		f.DstPort = c.DstPort
	}
	if r.engine.Evaluate(&f).Egress.Decision == policy.Allowed {
		o.Verdict = bpf.VerdictAllowed
	}
}
