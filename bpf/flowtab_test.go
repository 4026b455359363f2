//go:build linux

package bpf

import (
	"net/netip"
	"testing"
)

// manyFlows are n distinct TCP flows from podA to addresses in
// 10.214.0.0/16, as SYNs.
func manyFlows(n, offset int) []pkt {
	out := make([]pkt, n)
	for i := range out {
		j := i + offset
		out[i] = pkt{src: podA, dst: ipv4([4]byte{10, 214, byte(j >> 8), byte(j)}), proto: ProtoTCP,
			sport: uint16(20000 + j%7), dport: 80, tcpFlags: syn}
	}
	return out
}

// runAll sends each packet from its pod, with the given TCP flags.
func runAll(t *testing.T, o *Objects, ps []pkt, flags uint8) {
	t.Helper()
	for _, p := range ps {
		p.tcpFlags = flags
		run(t, o.FromPod(), p)
	}
}

// checkOnce asserts that every flow is read exactly once with the given
// packet count, wherever it lives (table or LRU maps).
func checkOnce(t *testing.T, o *Objects, ps []pkt, packets uint64) {
	t.Helper()
	seen := map[Conn]int{}
	for _, e := range flows(t, o) {
		seen[e.Conn]++
		if e.PacketsFwd != packets || e.Conns != 1 {
			t.Errorf("flow %v: %d packets, %d connections; want %d, 1", e.Conn, e.PacketsFwd, e.Conns, packets)
		}
	}
	for _, p := range ps {
		c := Conn{Src: p.src, Dst: p.dst, SrcPort: p.sport, DstPort: p.dport, Proto: p.proto, Dir: DirEgress}
		if seen[c] != 1 {
			t.Errorf("flow %v read %d times, want once", c, seen[c])
		}
	}
	if len(seen) != len(ps) {
		t.Errorf("%d flows read, want %d", len(seen), len(ps))
	}
}

// Past the table's room (full buckets, then an exhausted pool) flows go
// to the LRU maps; each must still be counted in exactly one place.
func TestFlowTableOverflow(t *testing.T) {
	// a pool of 600 behind 128 buckets of 8 ways: buckets fill up
	// before the pool runs out, and the pool runs out while most buckets
	// still have room; the LRU maps have 1024 entries each
	o := loadWith(t, Options{FlowEntries: 600})
	ps := manyFlows(1500, 0)
	runAll(t, o, ps, syn)
	runAll(t, o, ps, ack)
	checkOnce(t, o, ps, 2)
	if used, capacity := o.TableUsage(); used != 600 || capacity != 600 {
		t.Errorf("table holds %d of %d flows, capacity %d: want it full and the rest elsewhere", used, len(ps), capacity)
	}
	if s := stats(t, o); s[StatNewFlows] != uint64(len(ps)) || s[StatFlowUpdateFailed] != 0 {
		t.Errorf("stats: %d new flows, %d failed updates; want %d, 0", s[StatNewFlows], s[StatFlowUpdateFailed], len(ps))
	}
}

// The verdict cache must never answer for a policy that has changed: every
// change to the endpoint, subject or shadow maps shows in the next new
// flow between the same pods on the same port.
func TestVerdictCacheFollowsPolicy(t *testing.T) {
	o := load(t)
	const idA, idB, idB2 = 256, 257, 300
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.SetEndpoint(podA, idA))
	must(o.SetEndpoint(podB, idB))
	port := uint16(40000)
	newFlow := func() entry {
		t.Helper()
		port++
		run(t, o.FromPod(), pkt{src: podA, dst: podB, proto: ProtoTCP, sport: port, dport: 80, tcpFlags: syn})
		for _, e := range flows(t, o) {
			if e.SrcPort == port {
				return e
			}
		}
		t.Fatalf("flow from port %d not recorded", port)
		return entry{}
	}
	check := func(what string, e entry, dst uint32, v uint8) {
		t.Helper()
		if e.DstID != dst || e.Verdict != v {
			t.Errorf("%s: dst identity %d verdict %d, want %d, %d", what, e.DstID, e.Verdict, dst, v)
		}
	}
	check("no policy", newFlow(), idB, VerdictNotSelected)
	check("no policy, again (cached)", newFlow(), idB, VerdictNotSelected)
	must(o.SetSubject(idA, DirEgress, VerdictAudit))
	check("selected, nothing allowed", newFlow(), idB, VerdictAudit)
	must(o.PutShadow(ShadowEntry{Subject: idA, Peer: idB, Dir: DirEgress, Proto: ProtoTCP, PortLo: 80, PortHi: 80, Verdict: VerdictAllowed}))
	check("port 80 allowed", newFlow(), idB, VerdictAllowed)
	check("port 80 allowed, again (cached)", newFlow(), idB, VerdictAllowed)
	must(o.SetEndpoint(podB, idB2))
	check("peer changed identity", newFlow(), idB2, VerdictAudit)
	// writes through ShadowMap, as the recorder's bulk replacement does,
	// count once PolicyChanged is called
	for _, k := range (ShadowEntry{Subject: idA, Peer: idB2, Dir: DirEgress, Proto: ProtoTCP, PortLo: 80, PortHi: 80}).Keys() {
		must(o.ShadowMap().Put(k, VerdictAllowed))
	}
	must(o.PolicyChanged())
	check("allowed through the shadow map", newFlow(), idB2, VerdictAllowed)
}

// A restarted agent reuses the pinned table: flows from before the restart
// keep counting in place and new ones never land on their entries.
func TestFlowTableSurvivesRestart(t *testing.T) {
	pin := pinDir(t)

	before := manyFlows(300, 0)
	o, err := Load(Options{PinPath: pin})
	if err != nil {
		t.Fatal(err)
	}
	runAll(t, o, before, syn)
	o.Close()

	o = loadWith(t, Options{PinPath: pin})
	after := manyFlows(300, 300)
	runAll(t, o, after, syn)
	runAll(t, o, after, ack)
	runAll(t, o, before, ack)
	checkOnce(t, o, append(before, after...), 2)
	if err := Unpin(pin); err != nil {
		t.Fatal(err)
	}
}

// Reclaimed flows leave the table at once; their entries serve new flows
// once released, and a reclaimed flow that sends again starts afresh.
func TestFlowTableReclaim(t *testing.T) {
	o := loadWith(t, Options{FlowEntries: 600})
	old := manyFlows(500, 0)
	runAll(t, o, old, syn)
	if used, _ := o.TableUsage(); used < 450 {
		t.Fatalf("table holds %d of 500 flows", used)
	}
	gone := map[netip.Addr]bool{}
	for _, p := range old[:300] {
		gone[p.dst] = true
	}
	n, err := o.Reclaim(func(k *FlowKey, v *FlowValue) bool { return gone[k.Conn(v.InitiatorIsB).Dst] })
	if err != nil {
		t.Fatal(err)
	}
	if n < 250 {
		t.Fatalf("reclaimed %d of the 300 flows", n)
	}
	for _, e := range flows(t, o) {
		if gone[e.Dst] && e.PacketsFwd != 1 {
			t.Errorf("reclaimed flow %v still counted: %+v", e.Conn, e)
		}
	}
	kept := old[300:]
	if _, err := o.Reclaim(func(*FlowKey, *FlowValue) bool { return false }); err != nil {
		t.Fatal(err) // releases the reclaimed entries
	}
	fresh := manyFlows(350, 1000)
	runAll(t, o, fresh, syn)
	runAll(t, o, kept, ack)
	runAll(t, o, fresh, ack)
	again := old[0]
	again.tcpFlags = ack
	run(t, o.FromPod(), again)

	got := map[Conn][]entry{}
	for _, e := range flows(t, o) {
		got[e.Conn] = append(got[e.Conn], e)
	}
	for _, p := range append(append([]pkt{}, kept...), fresh...) {
		c := Conn{Src: p.src, Dst: p.dst, SrcPort: p.sport, DstPort: p.dport, Proto: p.proto, Dir: DirEgress}
		if es := got[c]; len(es) != 1 || es[0].PacketsFwd != 2 || es[0].Conns != 1 {
			t.Errorf("flow %v: %+v, want once with 2 packets", c, es)
		}
	}
	if used, _ := o.TableUsage(); used < 800-300 || used > 600 {
		t.Errorf("table holds %d flows after reclaiming and reuse", used)
	}
	c := Conn{Src: again.src, Dst: again.dst, SrcPort: again.sport, DstPort: again.dport, Proto: again.proto, Dir: DirEgress}
	if es := got[c]; len(es) != 1 || es[0].PacketsFwd != 1 || es[0].Flags&FlowMidstream == 0 {
		t.Errorf("reclaimed flow sending again: %+v, want a new midstream flow of 1 packet", es)
	}
}
