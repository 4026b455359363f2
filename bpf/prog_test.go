//go:build linux

package bpf

import (
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/posture-dev/posture/internal/testenv"
)

func load(t testing.TB) *Objects { return loadWith(t, Options{}) }

func loadWith(t testing.TB, opts Options) *Objects {
	t.Helper()
	testenv.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	o, err := Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func run(t testing.TB, prog *ebpf.Program, p pkt) {
	t.Helper()
	runBytes(t, prog, p.bytes())
}

func runBytes(t testing.TB, prog *ebpf.Program, b []byte) {
	t.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: b})
	if err != nil {
		t.Fatalf("PROG_TEST_RUN: %v", err)
	}
	if ret != ReturnUnspec {
		t.Fatalf("program returned %#x, want TC_ACT_UNSPEC: audit posture never drops", ret)
	}
}

// entry is a flow map entry in the initiator's orientation.
type entry struct {
	Conn
	PacketsFwd, PacketsRev uint64
	BytesFwd               uint64
	SrcID, DstID           uint32
	Verdict, Flags         uint8
	TCPFwd, TCPRev         uint8
	Conns                  uint32 // zero in a want means 1
}

func flows(t testing.TB, o *Objects) []entry {
	t.Helper()
	var out []entry
	err := o.ReadFlows(func(k *FlowKey, v *FlowValue) {
		out = append(out, entry{
			Conn:       k.Conn(v.InitiatorIsB),
			PacketsFwd: v.PacketsFwd, PacketsRev: v.PacketsRev, BytesFwd: v.BytesFwd,
			SrcID: v.SrcIdentity, DstID: v.DstIdentity,
			Verdict: v.Verdict, Flags: v.Flags,
			TCPFwd: v.TcpFlagsFwd, TCPRev: v.TcpFlagsRev, Conns: v.Conns,
		})
		if v.FirstNs == 0 || v.LastNs < v.FirstNs {
			t.Errorf("flow %+v: bad times first=%d last=%d", k, v.FirstNs, v.LastNs)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stats(t testing.TB, o *Objects) [StatMax]uint64 {
	t.Helper()
	s, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	podA  = netip.MustParseAddr("10.213.0.2")
	podB  = netip.MustParseAddr("10.213.0.3")
	pod6A = netip.MustParseAddr("fd00:213::2")
	pod6B = netip.MustParseAddr("fd00:213::3")
	ext   = netip.MustParseAddr("192.0.2.10")
)

const (
	syn    = 0x02
	ack    = 0x10
	synAck = 0x12
	psh    = 0x08
	fin    = 0x01
)

type step struct {
	prog string // "from" (pod egress) or "to" (pod ingress)
	p    pkt
}

func TestPrograms(t *testing.T) {
	tcp := pkt{src: podA, dst: podB, proto: ProtoTCP, sport: 40000, dport: 80, tcpFlags: syn}
	tcp6 := pkt{src: pod6A, dst: pod6B, proto: ProtoTCP, sport: 40001, dport: 443, tcpFlags: syn, hopByHop: true}
	udp := pkt{src: podA, dst: ext, proto: ProtoUDP, sport: 50000, dport: 123, payload: []byte("ntp")}
	ping := pkt{src: podA, dst: podB, proto: ProtoICMP, icmpType: 8, icmpID: 77}
	ping6 := pkt{src: pod6A, dst: pod6B, proto: ProtoICMPv6, icmpType: 128, icmpID: 78}
	sctp := pkt{src: podA, dst: podB, proto: ProtoSCTP, sport: 5000, dport: 3868}
	frag1 := pkt{src: podA, dst: podB, proto: ProtoUDP, sport: 5353, dport: 9000, payload: make([]byte, 32), moreFrags: true, fragID: 4242}
	frag2 := frag1
	frag2.moreFrags, frag2.fragOff = false, 5
	frag6a := pkt{src: pod6A, dst: pod6B, proto: ProtoUDP, sport: 5353, dport: 9001, payload: make([]byte, 32), moreFrags: true, fragID: 99}
	frag6b := frag6a
	frag6b.moreFrags, frag6b.fragOff = false, 5

	for _, tc := range []struct {
		name  string
		steps []step
		want  []entry
		stat  map[StatIndex]uint64
	}{{
		name: "tcp handshake and data",
		steps: []step{
			{"from", tcp}, {"to", tcp.reply(synAck)},
			{"from", func() pkt { p := tcp; p.tcpFlags = ack | psh; p.payload = []byte("GET /"); return p }()},
			{"to", tcp.reply(ack)},
		},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP, Dir: DirEgress},
			PacketsFwd: 2, PacketsRev: 2, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, TCPFwd: syn | ack | psh, TCPRev: synAck}},
		stat: map[StatIndex]uint64{StatPackets: 4, StatNewFlows: 1},
	}, {
		name: "4-tuple reused after the connection closed; a retransmitted syn is not a new one",
		steps: []step{
			{"from", tcp}, {"from", tcp}, {"to", tcp.reply(synAck)},
			{"from", func() pkt { p := tcp; p.tcpFlags = fin | ack; return p }()}, {"to", tcp.reply(fin | ack)},
			{"from", tcp}, {"to", tcp.reply(synAck)},
		},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP, Dir: DirEgress},
			PacketsFwd: 4, PacketsRev: 3, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, TCPFwd: syn, TCPRev: synAck, Conns: 2}},
	}, {
		name:  "syn seen at the receiving pod",
		steps: []step{{"to", tcp}, {"from", tcp.reply(synAck)}},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP, Dir: DirIngress},
			PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, TCPFwd: syn, TCPRev: synAck}},
	}, {
		name:  "established flow seen mid-stream is oriented to the service port",
		steps: []step{{"to", tcp.reply(ack)}, {"from", func() pkt { p := tcp; p.tcpFlags = ack; return p }()}},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP, Dir: DirEgress},
			PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, Flags: FlowMidstream, TCPFwd: ack, TCPRev: ack}},
	}, {
		name:  "syn-ack first",
		steps: []step{{"to", tcp.reply(synAck)}},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 40000, DstPort: 80, Proto: ProtoTCP, Dir: DirEgress},
			PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, Flags: FlowMidstream, TCPRev: synAck}},
	}, {
		name:  "ipv6 with hop-by-hop header",
		steps: []step{{"from", tcp6}, {"to", tcp6.reply(synAck)}},
		want: []entry{{Conn: Conn{Src: pod6A, Dst: pod6B, SrcPort: 40001, DstPort: 443, Proto: ProtoTCP, Dir: DirEgress},
			PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld,
			Verdict: VerdictNotSelected, TCPFwd: syn, TCPRev: synAck}},
	}, {
		name:  "udp request and answer",
		steps: []step{{"from", udp}, {"to", udp.reply(0)}, {"from", udp}},
		want: []entry{{Conn: Conn{Src: podA, Dst: ext, SrcPort: 50000, DstPort: 123, Proto: ProtoUDP, Dir: DirEgress},
			PacketsFwd: 2, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected}},
	}, {
		name: "icmp echo",
		steps: []step{{"from", ping}, {"to", func() pkt { p := ping; p.src, p.dst, p.icmpType = podB, podA, 0; return p }()},
			{"from", ping6}, {"to", func() pkt { p := ping6; p.src, p.dst, p.icmpType = pod6B, pod6A, 129; return p }()}},
		want: []entry{
			{Conn: Conn{Src: podA, Dst: podB, SrcPort: 77, DstPort: 8, Proto: ProtoICMP, Dir: DirEgress},
				PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected},
			{Conn: Conn{Src: pod6A, Dst: pod6B, SrcPort: 78, DstPort: 128, Proto: ProtoICMPv6, Dir: DirEgress},
				PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected},
		},
	}, {
		name: "icmp errors, neighbour discovery, listener and igmp reports make no flow",
		steps: []step{
			{"to", pkt{src: podB, dst: podA, proto: ProtoICMP, icmpType: 3}},
			{"to", pkt{src: pod6B, dst: pod6A, proto: ProtoICMPv6, icmpType: 135}},
			{"to", pkt{src: pod6B, dst: pod6A, proto: ProtoICMPv6, icmpType: 1}},
			{"from", pkt{src: pod6A, dst: netip.MustParseAddr("ff02::16"), proto: ProtoICMPv6, icmpType: 143}},
			{"from", pkt{src: podA, dst: netip.MustParseAddr("224.0.0.22"), proto: 2, rawL4: []byte{0x22, 0, 0, 0, 0, 0, 0, 1}}},
		},
		stat: map[StatIndex]uint64{StatRelated: 5, StatNewFlows: 0},
	}, {
		name:  "sctp",
		steps: []step{{"from", sctp}, {"to", sctp.reply(0)}},
		want: []entry{{Conn: Conn{Src: podA, Dst: podB, SrcPort: 5000, DstPort: 3868, Proto: ProtoSCTP, Dir: DirEgress},
			PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected}},
	}, {
		name:  "vlan tagged and double tagged",
		steps: []step{{"from", func() pkt { p := udp; p.vlans = []uint16{0x8100}; return p }()}, {"to", func() pkt { p := udp.reply(0); p.vlans = []uint16{0x88a8, 0x8100}; return p }()}},
		want: []entry{{Conn: Conn{Src: podA, Dst: ext, SrcPort: 50000, DstPort: 123, Proto: ProtoUDP, Dir: DirEgress},
			PacketsFwd: 1, PacketsRev: 1, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected}},
	}, {
		name:  "ipv4 and ipv6 fragments count toward their flow",
		steps: []step{{"from", frag1}, {"from", frag2}, {"from", frag6a}, {"from", frag6b}},
		want: []entry{
			{Conn: Conn{Src: podA, Dst: podB, SrcPort: 5353, DstPort: 9000, Proto: ProtoUDP, Dir: DirEgress},
				PacketsFwd: 2, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected},
			{Conn: Conn{Src: pod6A, Dst: pod6B, SrcPort: 5353, DstPort: 9001, Proto: ProtoUDP, Dir: DirEgress},
				PacketsFwd: 2, SrcID: IdentityWorld, DstID: IdentityWorld, Verdict: VerdictNotSelected},
		},
		stat: map[StatIndex]uint64{StatFragments: 4, StatFragUnknown: 0},
	}, {
		name:  "later fragment without its first",
		steps: []step{{"from", frag2}},
		stat:  map[StatIndex]uint64{StatFragments: 1, StatFragUnknown: 1, StatNewFlows: 0},
	}, {
		name: "truncated headers make no flow",
		steps: []step{
			{"from", pkt{src: podA, dst: podB, proto: ProtoTCP, rawL4: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}},
			{"from", pkt{src: podA, dst: podB, proto: ProtoUDP, rawL4: []byte{1, 2, 3}}},
			{"from", pkt{src: pod6A, dst: pod6B, proto: ProtoICMPv6, rawL4: []byte{128}}},
			{"from", pkt{src: podA, dst: podB, proto: ProtoTCP, vlans: []uint16{0x8100}, rawL4: []byte{}}},
		},
		stat: map[StatIndex]uint64{StatTruncated: 4, StatNewFlows: 0, StatPackets: 4},
	}, {
		name:  "non-ip",
		steps: []step{{"from", pkt{etherType: 0x0806}}},
		stat:  map[StatIndex]uint64{StatNonIP: 1, StatNewFlows: 0},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			o := load(t)
			for _, s := range tc.steps {
				prog := o.FromPod()
				if s.prog == "to" {
					prog = o.ToPod()
				}
				run(t, prog, s.p)
			}
			got := flows(t, o)
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if g.Conn == w.Conn {
						found = true
						g.BytesFwd = 0
						if w.Conns == 0 {
							w.Conns = 1
						}
						if g != w {
							t.Errorf("flow %+v:\n got %+v\nwant %+v", w.Conn, g, w)
						}
					}
				}
				if !found {
					t.Errorf("flow %+v missing; have %+v", w.Conn, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d flows, want %d: %+v", len(got), len(tc.want), got)
			}
			st := stats(t, o)
			if st[StatPackets] != uint64(len(tc.steps)) {
				t.Errorf("packets stat %d, want %d", st[StatPackets], len(tc.steps))
			}
			var conns uint64
			for _, w := range tc.want {
				conns += uint64(max(w.Conns, 1))
			}
			if st[StatNewFlows] != conns {
				t.Errorf("new_flows stat %d, want %d", st[StatNewFlows], conns)
			}
			for i, w := range tc.stat {
				if st[i] != w {
					t.Errorf("stat %s = %d, want %d", StatNames[i], st[i], w)
				}
			}
		})
	}
}

func TestBytesCounted(t *testing.T) {
	o := load(t)
	p := pkt{src: podA, dst: podB, proto: ProtoUDP, sport: 1000, dport: 2000, payload: make([]byte, 100)}
	run(t, o.FromPod(), p)
	run(t, o.FromPod(), p)
	got := flows(t, o)
	if len(got) != 1 || got[0].BytesFwd != 2*uint64(len(p.bytes())) {
		t.Fatalf("got %+v, want 2 x %d bytes", got, len(p.bytes()))
	}
}

func TestShadowVerdicts(t *testing.T) {
	o := load(t)
	const idA, idB, idWorld = 256, 257, IdentityWorld
	for a, id := range map[netip.Addr]uint32{podA: idA, podB: idB} {
		if err := o.SetEndpoint(a, id); err != nil {
			t.Fatal(err)
		}
	}
	cidrID := uint32(1<<24 + 1)
	if err := o.SetCIDR(netip.MustParsePrefix("192.0.2.0/24"), cidrID); err != nil {
		t.Fatal(err)
	}
	// A is selected for egress: may reach B on 8000-8100/TCP and the CIDR
	// on 443; B is selected for ingress and takes 8080 from A only.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(o.SetSubject(idA, DirEgress, VerdictAudit))
	must(o.SetSubject(idB, DirIngress, VerdictAudit))
	must(o.PutShadow(ShadowEntry{Subject: idA, Peer: idB, Dir: DirEgress, Proto: ProtoTCP, PortLo: 8000, PortHi: 8100, Verdict: VerdictAllowed}))
	must(o.PutShadow(ShadowEntry{Subject: idA, Peer: cidrID, Dir: DirEgress, Proto: ProtoTCP, PortLo: 443, PortHi: 443, Verdict: VerdictAllowed}))
	must(o.PutShadow(ShadowEntry{Subject: idB, Peer: idA, Dir: DirIngress, Proto: ProtoTCP, PortLo: 8080, PortHi: 8080, Verdict: VerdictAllowed}))

	type c struct {
		prog     string
		src, dst netip.Addr
		dport    uint16
		verdict  uint8
		srcID    uint32
		dstID    uint32
	}
	cases := []c{
		{"from", podA, podB, 8000, VerdictAllowed, idA, idB},
		{"from", podA, podB, 8100, VerdictAllowed, idA, idB},
		{"from", podA, podB, 8101, VerdictAudit, idA, idB},
		{"from", podA, podB, 7999, VerdictAudit, idA, idB},
		{"from", podA, ext, 443, VerdictAllowed, idA, cidrID},
		{"from", podA, ext, 80, VerdictAudit, idA, cidrID},
		{"from", podA, netip.MustParseAddr("198.51.100.1"), 443, VerdictAudit, idA, idWorld},
		{"to", podA, podB, 8080, VerdictAllowed, idA, idB},
		{"to", podA, podB, 8081, VerdictAudit, idA, idB},
		{"from", podB, podA, 8080, VerdictNotSelected, idB, idA}, // B has no egress policy
		{"to", podB, podA, 8080, VerdictNotSelected, idB, idA},   // A has no ingress policy
	}
	for i, tc := range cases {
		prog := o.FromPod()
		if tc.prog == "to" {
			prog = o.ToPod()
		}
		run(t, prog, pkt{src: tc.src, dst: tc.dst, proto: ProtoTCP, sport: uint16(30000 + i), dport: tc.dport, tcpFlags: syn})
	}
	got := map[uint16]entry{}
	for _, e := range flows(t, o) {
		got[e.SrcPort] = e
	}
	for i, tc := range cases {
		g, ok := got[uint16(30000+i)]
		if !ok {
			t.Errorf("case %d: no flow", i)
			continue
		}
		if g.Verdict != tc.verdict || g.SrcID != tc.srcID || g.DstID != tc.dstID {
			t.Errorf("case %d %+v: verdict %d ids %d->%d", i, tc, g.Verdict, g.SrcID, g.DstID)
		}
	}
	// every new flow is announced once, with the same verdict
	var evs []FlowEvent
	n, _ := o.DrainEvents(func(ev *FlowEvent) { evs = append(evs, *ev) })
	if n != len(cases) || len(evs) != len(cases) {
		t.Errorf("%d events (%d counted), want %d", len(evs), n, len(cases))
	}
	seen := map[int]bool{}
	for _, ev := range evs {
		conn := ev.Key.Conn(ev.InitiatorIsB)
		i := int(conn.SrcPort) - 30000
		if i < 0 || i >= len(cases) || ev.Verdict != cases[i].verdict || seen[i] {
			t.Errorf("event %+v verdict %d", conn, ev.Verdict)
			continue
		}
		seen[i] = true
	}
	if n, _ := o.DrainEvents(func(*FlowEvent) {}); n != 0 {
		t.Errorf("%d events after a drain", n)
	}
}

func TestDNSAnswersCopied(t *testing.T) {
	o := load(t)
	rd, err := ringbuf.NewReader(o.DNSEvents())
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	answer := make([]byte, 3000) // longer than the bound
	for i := range answer {
		answer[i] = byte(i)
	}
	srv := netip.MustParseAddr("10.213.0.53")
	run(t, o.ToPod(), pkt{src: srv, dst: podA, proto: ProtoUDP, sport: 53, dport: 40000, payload: answer[:100]})
	run(t, o.ToPod(), pkt{src: srv, dst: podA, proto: ProtoUDP, sport: 53, dport: 40001, payload: answer})
	run(t, o.ToPod(), pkt{src: srv, dst: podA, proto: ProtoTCP, sport: 53, dport: 40002, tcpFlags: ack | psh, payload: answer[:200]})
	// a query (to port 53) and an answer leaving a pod are not copied
	run(t, o.FromPod(), pkt{src: podA, dst: srv, proto: ProtoUDP, sport: 40000, dport: 53, payload: answer[:40]})
	run(t, o.FromPod(), pkt{src: srv, dst: podA, proto: ProtoUDP, sport: 53, dport: 40000, payload: answer[:40]})
	rd.SetDeadline(time.Now().Add(time.Second))
	for _, want := range []struct {
		len, caplen int
		proto       uint8
	}{{100, 100, ProtoUDP}, {3000, DNSMaxPayload, ProtoUDP}, {200, 200, ProtoTCP}} {
		rec, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		ev, err := DecodeDNSEvent(rec.RawSample)
		if err != nil {
			t.Fatal(err)
		}
		if int(ev.Len) != want.len || int(ev.Caplen) != want.caplen || ev.Proto != want.proto {
			t.Errorf("dns event len %d caplen %d proto %d, want %+v", ev.Len, ev.Caplen, ev.Proto, want)
		}
		for i := 0; i < int(ev.Caplen); i++ {
			if ev.Data[i] != byte(i) {
				t.Fatalf("payload byte %d = %d", i, ev.Data[i])
			}
		}
		if AddrFrom16(ev.Saddr) != srv || AddrFrom16(ev.Daddr) != podA {
			t.Errorf("addresses %v -> %v", AddrFrom16(ev.Saddr), AddrFrom16(ev.Daddr))
		}
	}
	if _, err := rd.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("extra dns event: %v", err)
	}
	if s := stats(t, o); s[StatDNSCopied] != 3 || s[StatDNSLost] != 0 {
		t.Errorf("dns stats copied=%d lost=%d", s[StatDNSCopied], s[StatDNSLost])
	}
}

// TestFullRingLosesNoFlow: with nobody draining the event rings (a stuck
// or hostile consumer), packets still pass, every flow is still in the
// map, and the lost announcements are counted.
func TestFullRingLosesNoFlow(t *testing.T) {
	o := load(t)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	// more events than all the rings hold, wherever the runs land
	const extra = 10000
	n := ncpu*evPerCPU + extra
	for i := range n {
		a := [4]byte{10, byte(214 + i>>16), byte(i >> 8), byte(i)}
		run(t, o.FromPod(), pkt{src: podA, dst: ipv4(a), proto: ProtoTCP, sport: 40000, dport: 80, tcpFlags: syn})
	}
	st := stats(t, o)
	if got := len(flows(t, o)); got != n {
		t.Errorf("%d flows in the map, want %d", got, n)
	}
	lost := st[StatEventsLost]
	if st[StatNewFlows] != uint64(n) || lost < extra || lost >= uint64(n) {
		t.Errorf("new_flows %d, events_lost %d: want %d new flows and at least %d, not all, announcements lost", st[StatNewFlows], lost, n, extra)
	}
	// what was kept is read back once, and the rings take events again
	read, fullest := o.DrainEvents(func(*FlowEvent) {})
	if uint64(read)+lost != uint64(n) || fullest == 0 {
		t.Errorf("drained %d (fullest %.2f) with %d lost, want %d in all", read, fullest, lost, n)
	}
	run(t, o.FromPod(), pkt{src: podA, dst: podB, proto: ProtoTCP, sport: 40000, dport: 80, tcpFlags: syn})
	if read, _ := o.DrainEvents(func(*FlowEvent) {}); read != 1 {
		t.Errorf("%d events after the rings were drained, want 1", read)
	}
	t.Logf("%d of %d announcements lost with no reader", lost, n)
}
