//go:build linux

package bpf

import (
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// The per-packet figures are the kernel's own timing of the program loop
// (BPF_PROG_TEST_RUN), reported as ns/pkt; each benchmark has an empty-
// program twin measured the same way in the same run, so the difference
// is the cost posture adds.

func benchSetup(b *testing.B) *Objects { return benchSetupWith(b, Options{}) }

func benchSetupWith(b *testing.B, opts Options) *Objects {
	o := loadWith(b, opts)
	const idA, idB = 256, 257
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	// as the agent does: a clock ticked from user space
	must(o.SetClock(uint64(time.Now().UnixNano())))
	must(o.SetEndpoint(podA, idA))
	must(o.SetEndpoint(podB, idB))
	must(o.SetSubject(idA, DirEgress, VerdictAudit))
	must(o.PutShadow(ShadowEntry{Subject: idA, Peer: idB, Dir: DirEgress, Proto: ProtoTCP, PortLo: 1024, PortHi: 65535, Verdict: VerdictAllowed}))
	must(o.PutShadow(ShadowEntry{Subject: idA, Peer: idB, Dir: DirEgress, Proto: ProtoTCP, PortLo: 80, PortHi: 80, Verdict: VerdictAllowed}))
	// drain the event rings as the agent does, polling, but often enough
	// for the benchmark's rate
	if os.Getenv("NOREAD") != "" {
		return o
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			o.DrainEvents(func(*FlowEvent) {})
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	b.Cleanup(func() { close(done); <-stopped })
	return o
}

func benchRepeat(b *testing.B, prog *ebpf.Program, frame []byte) {
	b.ResetTimer()
	_, d, err := prog.Benchmark(frame, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/pkt")
}

// BenchmarkEstablished: one packet of an existing TCP flow, repeated.
func BenchmarkEstablished(b *testing.B) {
	o := benchSetup(b)
	p := pkt{src: podA, dst: podB, proto: ProtoTCP, sport: 40000, dport: 80, tcpFlags: syn}
	run(b, o.FromPod(), p)
	p.tcpFlags = ack | psh
	p.payload = make([]byte, 64)
	frame := p.bytes()
	b.Run("empty", func(b *testing.B) { benchRepeat(b, o.Empty(), frame) })
	b.Run("posture", func(b *testing.B) { benchRepeat(b, o.FromPod(), frame) })
	b.Run("posture-reply", func(b *testing.B) { benchRepeat(b, o.ToPod(), p.reply(ack).bytes()) })
}

// benchNew runs one distinct new flow per iteration (repeat 1), timing
// only the program. The posture runs load their objects afresh so that
// every count sees flows it has never seen: with -count the
// testing package reruns a sub-benchmark with the same frames, which
// over the same maps would time lookups of known flows instead.
func benchNew(b *testing.B, prog *ebpf.Program, base pkt) {
	frames := make([][]byte, b.N)
	for i := range frames {
		frames[i] = newFlowFrame(base, i)
	}
	benchFrames(b, prog, frames)
}

// newFlowFrame is the i-th new flow from base's source to pod B: a new
// source port each time, and past 60,000 ports the next address after B's.
func newFlowFrame(base pkt, i int) []byte {
	p := base
	p.sport = uint16(1024 + i%60000)
	a := podB.As4()
	a[2] += byte(i / 60000)
	p.dst = ipv4(a)
	return p.bytes()
}

// BenchmarkNewFlowTableSize: BenchmarkNewFlow's flows with the flow
// table sized by --flow-entries. A new flow's first cost is its bucket's
// cache line, which is cold unless the bucket array (8 bytes per entry)
// stays in the caches; the maps are loaded afresh whenever the table is
// half full, outside the timing, so every flow finds room in it.
func BenchmarkNewFlowTableSize(b *testing.B) {
	base := pkt{src: podA, proto: ProtoTCP, dport: 80, tcpFlags: syn}
	for _, n := range []uint32{16384, 65536, 262144, 1048576} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			o := benchSetupWith(b, Options{FlowEntries: n})
			var total time.Duration
			for i := range b.N {
				if i > 0 && i%int(n/2) == 0 {
					o = benchSetupWith(b, Options{FlowEntries: n}) // closed at cleanup
				}
				_, d, err := o.FromPod().Benchmark(newFlowFrame(base, i), 1, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}

// benchFrames runs each frame once, timing only the program.
func benchFrames(b *testing.B, prog *ebpf.Program, frames [][]byte) {
	b.ResetTimer()
	var total time.Duration
	for i := range b.N {
		_, d, err := prog.Benchmark(frames[i], 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
}

// BenchmarkNewFlow: a TCP SYN of a flow never seen, including identity
// lookups, the shadow verdict, the map insert and the ring-buffer event.
// Each flow is a new connection between the same two pods on the same
// port (a new source port), as a client's repeated connections are.
func BenchmarkNewFlow(b *testing.B) {
	o := benchSetup(b)
	base := pkt{src: podA, proto: ProtoTCP, dport: 80, tcpFlags: syn}
	b.Run("empty", func(b *testing.B) { benchNew(b, o.Empty(), base) })
	b.Run("posture", func(b *testing.B) { benchNew(b, benchSetup(b).FromPod(), base) })
}

// BenchmarkNewFlowNewPeer: the same, but every flow goes to a pod the
// source has not talked to since the cached lookups: 50,000 peers with
// 500 identities, so both identities and the verdict are looked up.
func BenchmarkNewFlowNewPeer(b *testing.B) {
	const peers = 50_000
	dst := func(i int) netip.Addr {
		return ipv4([4]byte{10, 215, byte(i >> 8), byte(i)})
	}
	setup := func(b *testing.B) *Objects {
		o := benchSetup(b)
		for i := range peers {
			if err := o.SetEndpoint(dst(i), uint32(1000+i%500)); err != nil {
				b.Fatal(err)
			}
		}
		return o
	}
	frames := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			p := pkt{src: podA, dst: dst(i % peers), proto: ProtoTCP, sport: uint16(1024 + i/peers), dport: 80, tcpFlags: syn}
			out[i] = p.bytes()
		}
		return out
	}
	o := setup(b)
	b.Run("empty", func(b *testing.B) { benchFrames(b, o.Empty(), frames(b.N)) })
	b.Run("posture", func(b *testing.B) { benchFrames(b, setup(b).FromPod(), frames(b.N)) })
}
