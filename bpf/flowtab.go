//go:build linux

package bpf

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
)

// The flow table's layout, from posture.h.
const (
	ftWays     = 8
	ftKindMask = 0xff
	ftValid    = 2
	ftIdxShift = 8
	ftIdxMask  = 0xffffff00
	ftMaxSlots = 1 << 24
)

type (
	ftTags = postureFtTags
	ftSlot = postureFtSlot
)

// readTable reads the flow table through its memory mappings: published
// ways only, so a way the program is still filling is skipped (it is read
// on the next scan). Counters the program adds to meanwhile may be a
// packet behind.
func (o *Objects) readTable(fn func(*FlowKey, *FlowValue)) error {
	nb, ns := int(o.objs.PostureFttags.MaxEntries()), int(o.objs.PostureFlowtab.MaxEntries())
	tags, err := mapped(o.objs.PostureFttags, nb, unsafe.Sizeof(ftTags{}))
	if err != nil {
		return err
	}
	pool, err := mapped(o.objs.PostureFlowtab, ns, unsafe.Sizeof(ftSlot{}))
	if err != nil {
		return err
	}
	// States before entries: the program writes an entry before it
	// publishes the state naming it, so a state read as published
	// vouches for the entry read after it.
	var (
		t     ftTags
		e     ftSlot
		tbuf  = unsafe.Slice((*byte)(unsafe.Pointer(&t)), unsafe.Sizeof(t))
		ebuf  = unsafe.Slice((*byte)(unsafe.Pointer(&e)), unsafe.Sizeof(e))
		fence uint32
	)
	for i := range nb {
		if _, err := tags.ReadAt(tbuf, int64(i)*int64(len(tbuf))); err != nil {
			return fmt.Errorf("reading flow table: %w", err)
		}
		if t.State[0] == 0 {
			continue // ways fill in order: an empty first way means an empty bucket
		}
		// a read-modify-write orders the loads around it on every
		// architecture (x86 keeps load order anyway)
		atomic.AddUint32(&fence, 0)
		for _, s := range t.State {
			if s&ftKindMask != ftValid {
				continue
			}
			idx := int64(s&ftIdxMask) >> ftIdxShift
			if idx >= int64(ns) {
				return fmt.Errorf("reading flow table: bucket %d names entry %d of %d", i, idx, ns)
			}
			if _, err := pool.ReadAt(ebuf, idx*int64(len(ebuf))); err != nil {
				return fmt.Errorf("reading flow table: %w", err)
			}
			k, v := e.Key, e.Val
			fn(&k, &v)
		}
	}
	return nil
}

// mapped is the memory mapping of an array of n values of size bytes.
func mapped(m *ebpf.Map, n int, size uintptr) (*ebpf.Memory, error) {
	mem, err := m.Memory()
	if err != nil {
		return nil, fmt.Errorf("mapping flow table: %w", err)
	}
	if uintptr(mem.Size()) < size*uintptr(n) {
		return nil, fmt.Errorf("mapping flow table: %d bytes for %d entries of %d", mem.Size(), n, size)
	}
	return mem, nil
}
