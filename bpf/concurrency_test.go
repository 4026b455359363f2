//go:build linux

package bpf

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// pinCPU keeps the calling goroutine on one CPU, so PROG_TEST_RUN runs
// the program there; it returns false when the CPU is not usable.
func pinCPU(cpu int) bool {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(0, &set) == nil
}

// TestEventRingsConcurrent: programs on every CPU announce new flows while
// user space drains the rings. Every announcement is read exactly once or
// counted lost, and names a flow in the table.
func TestEventRingsConcurrent(t *testing.T) {
	o := load(t)
	ncpu := runtime.NumCPU()
	const perCPU = 20000
	seen := map[FlowKey]int{}
	var stop atomic.Bool
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			last := stop.Load()
			o.DrainEvents(func(ev *FlowEvent) { seen[ev.Key]++ })
			if last {
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, ncpu)
	for cpu := range ncpu {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer runtime.UnlockOSThread()
			if !pinCPU(cpu) {
				return
			}
			for i := range perCPU {
				p := pkt{src: podA, dst: ipv4([4]byte{10, 217, byte(cpu), byte(i >> 8)}), proto: ProtoTCP, sport: uint16(1024 + i%256*200 + i>>8%200), dport: 80, tcpFlags: syn}
				if _, err := o.FromPod().Run(&ebpf.RunOptions{Data: p.bytes()}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	<-drained
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := stats(t, o)
	fl := flows(t, o)
	inTable := map[Conn]bool{}
	for _, e := range fl {
		inTable[e.Conn] = true
	}
	for k, n := range seen {
		c := k.Conn(0)
		if n != 1 {
			t.Errorf("flow %+v announced %d times", c, n)
		}
		if !inTable[c] && !inTable[k.Conn(1)] {
			t.Errorf("announced flow %+v is not in the table", c)
		}
	}
	if uint64(len(seen))+st[StatEventsLost] != st[StatNewFlows] || st[StatNewFlows] != uint64(len(fl)) {
		t.Errorf("%d announcements read, %d lost, %d new flows, %d in the table", len(seen), st[StatEventsLost], st[StatNewFlows], len(fl))
	}
	t.Logf("%d new flows on %d CPUs: %d announcements read, %d lost", len(fl), ncpu, len(seen), st[StatEventsLost])
}

// TestEndpointTableConcurrentUpdates: while user space keeps moving one
// way of a bucket between two endpoints, new flows to either get its own
// identity or none (world, between a deletion and the next insertion),
// never the other's: a reader that overlaps a write sees the bucket's
// sequence count change and asks the hash map.
func TestEndpointTableConcurrentUpdates(t *testing.T) {
	o := load(t)
	if !inOrder() {
		t.Log("this CPU reorders loads: the program reads the endpoints map alone")
	}
	x := ipv4([4]byte{10, 218, 0, 1})
	bucket := func(a netip.Addr) int {
		a0, a1 := epWords(Addr16(a))
		return epHash(a0, a1, len(o.ep.buckets))
	}
	var y netip.Addr
	for i := 2; i < 1<<16; i++ {
		if c := ipv4([4]byte{10, 218, byte(i >> 8), byte(i)}); bucket(c) == bucket(x) {
			y = c
			break
		}
	}
	if !y.IsValid() {
		t.Fatal("no address shares a bucket with", x)
	}
	const idX, idY = 7001, 7002
	var stop atomic.Bool
	writerErr := make(chan error, 1)
	go func() {
		defer runtime.UnlockOSThread()
		pinCPU(1 % runtime.NumCPU())
		var err error
		for !stop.Load() && err == nil {
			// x and y take turns in the bucket's first way
			err = o.SetEndpoint(x, idX)
			if err == nil {
				err = o.DeleteEndpoint(x)
			}
			if err == nil {
				err = o.SetEndpoint(y, idY)
			}
			if err == nil {
				err = o.DeleteEndpoint(y)
			}
		}
		writerErr <- err
	}()
	runtime.LockOSThread()
	pinCPU(0)
	const n = 20000
	for i := range n {
		dst := x
		if i%2 == 1 {
			dst = y
		}
		run(t, o.FromPod(), pkt{src: podA, dst: dst, proto: ProtoTCP, sport: uint16(1024 + i/2), dport: 80, tcpFlags: syn})
	}
	runtime.UnlockOSThread()
	stop.Store(true)
	if err := <-writerErr; err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, e := range flows(t, o) {
		switch {
		case e.Dst == x && e.DstID == idX, e.Dst == y && e.DstID == idY:
			counts["own"]++
		case e.DstID == IdentityWorld:
			counts["world"]++
		default:
			t.Errorf("flow to %v has identity %d", e.Dst, e.DstID)
		}
	}
	if counts["own"] == 0 {
		t.Errorf("no flow got its endpoint's identity: %v", counts)
	}
	t.Logf("%d flows while the bucket changed: %v", n, counts)
}
