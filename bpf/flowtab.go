//go:build linux

package bpf

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// The flow table's layout, from posture.h.
const (
	ftWays     = 8
	ftKindMask = 0xff
	ftBusy     = 1
	ftValid    = 2
	ftTomb     = 3
	ftIdxShift = 8
	ftIdxMask  = 0xffffff00
	ftMaxSlots = 1 << 24
)

type (
	ftTags = postureFtTags
	ftSlot = postureFtSlot
	ftPool = postureFtPool
)

// table is user space's view of the flow table: its arrays mapped
// writable, because reclaiming takes atomic operations on the same words
// the program updates.
type table struct {
	mems    [][]byte // the mappings, unmapped by close
	tags    []ftTags
	pool    *ftPool
	free    []uint64
	entries []ftSlot
	nslots  int
	// mu guards pending and the ring's tail, which only user space
	// writes.
	mu sync.Mutex
	// pending are reclaimed entries not yet on the free ring: a program
	// that found the flow just before it was reclaimed may still be
	// adding to it, so they wait for the next release.
	pending []uint32
}

// mapArray maps the n values of array map m writable and views them as
// a []T, adding the mapping to *mems for the caller to unmap.
func mapArray[T any](mems *[][]byte, m *ebpf.Map, n int) ([]T, error) {
	page := unix.Getpagesize()
	size := (n*int(unsafe.Sizeof(*new(T))) + page - 1) &^ (page - 1)
	b, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mapping %s: %w", m, err)
	}
	*mems = append(*mems, b)
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n), nil
}

// unmap releases mappings mapArray made.
func unmap(mems [][]byte) {
	for _, b := range mems {
		unix.Munmap(b)
	}
}

// openTable maps the table; close releases the mappings.
func openTable(o *postureObjects) (*table, error) {
	t := &table{nslots: int(o.PostureFlowtab.MaxEntries())}
	fail := func(err error) (*table, error) {
		t.close()
		return nil, err
	}
	var err error
	if t.tags, err = mapArray[ftTags](&t.mems, o.PostureFttags, int(o.PostureFttags.MaxEntries())); err != nil {
		return fail(err)
	}
	if t.entries, err = mapArray[ftSlot](&t.mems, o.PostureFlowtab, t.nslots); err != nil {
		return fail(err)
	}
	if t.free, err = mapArray[uint64](&t.mems, o.PostureFtfree, int(o.PostureFtfree.MaxEntries())); err != nil {
		return fail(err)
	}
	pool, err := mapArray[ftPool](&t.mems, o.PostureFtpool, 1)
	if err != nil {
		return fail(err)
	}
	t.pool = &pool[0]
	return t, nil
}

func (t *table) close() {
	unmap(t.mems)
	t.mems, t.tags, t.entries, t.pool, t.free = nil, nil, nil, nil, nil
}

// read calls fn for every published flow with its bucket, way and state.
// A state is read before its entry: the program writes an entry before it
// publishes the state naming it, and atomic loads keep that order here.
// Counters the program adds to meanwhile may be a packet behind.
func (t *table) read(fn func(b, w int, s uint64, k *FlowKey, v *FlowValue)) error {
	// one copy for every entry: fn does not keep them, and a copy per
	// entry was most of a scan's garbage
	var (
		k FlowKey
		v FlowValue
	)
	for i := range t.tags {
		for w := range ftWays {
			s := atomic.LoadUint64(&t.tags[i].State[w])
			if s == 0 {
				break // ways fill in order
			}
			if s&ftKindMask != ftValid {
				continue
			}
			idx := (s & ftIdxMask) >> ftIdxShift
			if idx >= uint64(t.nslots) {
				return fmt.Errorf("reading flow table: bucket %d names entry %d of %d", i, idx, t.nslots)
			}
			k, v = t.entries[idx].Key, t.entries[idx].Val
			fn(i, w, s, &k, &v)
		}
	}
	return nil
}

// usage is how many pool entries hold flows or are taken by CPUs.
func (t *table) usage() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := min(atomic.LoadUint64(&t.pool.Next), uint64(t.nslots))
	free := atomic.LoadUint64(&t.pool.FreeTail) - atomic.LoadUint64(&t.pool.FreeHead)
	return int(next-free) - len(t.pending)
}

// release puts the pending entries on the free ring.
func (t *table) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseLocked()
}

func (t *table) releaseLocked() {
	tail := atomic.LoadUint64(&t.pool.FreeTail)
	mask := uint64(len(t.free) - 1)
	for _, idx := range t.pending {
		t.free[tail&mask] = uint64(idx)
		tail++
	}
	// the ring's entries are written before the tail that shows them
	atomic.StoreUint64(&t.pool.FreeTail, tail)
	t.pending = t.pending[:0]
}

// reclaim marks the chosen flows' ways reclaimed and holds their entries
// until the next call, after releasing those it held since the last.
func (t *table) reclaim(pick func(k *FlowKey, v *FlowValue) bool) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.releaseLocked()
	n := 0
	err := t.read(func(b, w int, s uint64, k *FlowKey, v *FlowValue) {
		// the program turns empty and reclaimed ways into claimed ones and
		// claimed into valid; a valid way only ever turns into a tomb here
		if pick(k, v) && atomic.CompareAndSwapUint64(&t.tags[b].State[w], s, s&^ftKindMask|ftTomb) {
			t.pending = append(t.pending, uint32((s&ftIdxMask)>>ftIdxShift))
			n++
		}
	})
	return n, err
}

// recover runs when the program is loaded over pinned maps, before it is
// attached: entries a CPU had taken but not used when the last agent
// stopped, and reclaimed ones still held, are free again, and ways left
// mid-claim (none should be) are reclaimed.
func (t *table) recover() {
	t.mu.Lock()
	defer t.mu.Unlock()
	used := make([]bool, t.nslots)
	for i := range t.tags {
		for w := range ftWays {
			s := atomic.LoadUint64(&t.tags[i].State[w])
			switch s & ftKindMask {
			case ftValid:
				if idx := (s & ftIdxMask) >> ftIdxShift; idx < uint64(len(used)) {
					used[idx] = true
				}
			case ftBusy:
				atomic.StoreUint64(&t.tags[i].State[w], s&^ftKindMask|ftTomb)
			}
		}
	}
	next := min(atomic.LoadUint64(&t.pool.Next), uint64(t.nslots))
	t.pending = t.pending[:0]
	for idx := range uint32(next) {
		if !used[idx] {
			t.pending = append(t.pending, idx)
		}
	}
	slices.Sort(t.pending)
	// start the ring afresh: nothing is taking from it yet
	head := atomic.LoadUint64(&t.pool.FreeHead)
	atomic.StoreUint64(&t.pool.FreeTail, head)
	t.releaseLocked()
}
