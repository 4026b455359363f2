package policy

import (
	"sync"
	"sync/atomic"
)

// lfMap is a map from uint64 to *V that readers use without locks: an
// open-addressing table of atomic pointers, replaced whole (copy on grow)
// by writers under a mutex. Evaluate's hot path does two or three lookups
// per flow; a RWMutex's two atomic adds per lookup were a third of its
// cost.
type lfMap[V any] struct {
	mu  sync.Mutex
	tab atomic.Pointer[lfTable[V]]
	n   int // entries in the current table, under mu
}

type lfEntry[V any] struct {
	key uint64
	val *V
}

type lfTable[V any] struct {
	slots []atomic.Pointer[lfEntry[V]]
	mask  uint64
}

func newLFTable[V any](size int) *lfTable[V] {
	return &lfTable[V]{slots: make([]atomic.Pointer[lfEntry[V]], size), mask: uint64(size - 1)}
}

// mix spreads identity numbers and packed keys over the table.
func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	return k
}

func (m *lfMap[V]) load(k uint64) *V {
	t := m.tab.Load()
	if t == nil {
		return nil
	}
	for i := mix(k) & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i].Load()
		if e == nil {
			return nil
		}
		if e.key == k {
			return e.val
		}
	}
}

// store adds k unless present and returns the value now stored. When the
// map holds limit entries it is emptied first (limit 0: unbounded).
func (m *lfMap[V]) store(k uint64, v *V, limit int) *V {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tab.Load()
	if t != nil {
		if old := m.load(k); old != nil {
			return old
		}
	}
	if t == nil || (limit > 0 && m.n >= limit) {
		t, m.n = newLFTable[V](64), 0
	} else if 2*(m.n+1) > len(t.slots) {
		nt := newLFTable[V](2 * len(t.slots))
		for i := range t.slots {
			if e := t.slots[i].Load(); e != nil {
				nt.insert(e)
			}
		}
		t = nt
	}
	t.insert(&lfEntry[V]{key: k, val: v})
	m.n++
	m.tab.Store(t)
	return v
}

func (t *lfTable[V]) insert(e *lfEntry[V]) {
	for i := mix(e.key) & t.mask; ; i = (i + 1) & t.mask {
		if t.slots[i].Load() == nil {
			t.slots[i].Store(e)
			return
		}
	}
}
