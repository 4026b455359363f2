//go:build linux

package bpf

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// evPerCPU is EV_PER_CPU from posture.h: the events each CPU's ring holds.
const evPerCPU = 4096

type evCtl = postureEvCtl

// events is user space's side of the per-CPU event rings: the rings and
// their heads and tails, mapped writable because user space advances the
// tails.
type events struct {
	mems [][]byte
	ctl  []evCtl
	ring []FlowEvent
	// mu makes one drain at a time: a tail has a single writer.
	mu sync.Mutex
}

func openEvents(o *postureObjects) (*events, error) {
	e := &events{}
	var err error
	if e.ctl, err = mapArray[evCtl](&e.mems, o.PostureEvctl, int(o.PostureEvctl.MaxEntries())); err != nil {
		e.close()
		return nil, err
	}
	if e.ring, err = mapArray[FlowEvent](&e.mems, o.PostureEvring, int(o.PostureEvring.MaxEntries())); err != nil {
		e.close()
		return nil, err
	}
	if len(e.ring) != len(e.ctl)*evPerCPU {
		e.close()
		return nil, fmt.Errorf("mapping event rings: %d events for %d CPUs, want %d each", len(e.ring), len(e.ctl), evPerCPU)
	}
	return e, nil
}

func (e *events) close() {
	unmap(e.mems)
	e.mems, e.ctl, e.ring = nil, nil, nil
}

// drain calls fn for every event waiting, each CPU's in order, and
// reports how many there were and the fullest ring's fill (0 to 1)
// before the drain. An event is copied out before its slot is handed
// back, so fn may keep it.
func (e *events) drain(fn func(*FlowEvent)) (n int, fullest float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for cpu := range e.ctl {
		c := &e.ctl[cpu]
		// the program publishes head after the event's stores
		head := atomic.LoadUint64(&c.Head)
		tail := c.Tail
		if head-tail > evPerCPU {
			// only a corrupted head gets here; skip to it rather than
			// read slots being rewritten
			atomic.StoreUint64(&c.Tail, head)
			continue
		}
		fullest = max(fullest, float64(head-tail)/evPerCPU)
		ring := e.ring[cpu*evPerCPU : (cpu+1)*evPerCPU]
		for ; tail != head; tail++ {
			ev := ring[tail%evPerCPU]
			fn(&ev)
			n++
		}
		// hands the slots back to the program
		atomic.StoreUint64(&c.Tail, tail)
	}
	return n, fullest
}
