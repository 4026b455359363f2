//go:build linux

package bpf

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The endpoint table's layout, from posture.h.
const (
	epWays     = 3
	epOverflow = 0x80000000
)

type epBucket = postureEpBucket

// epTable is user space's side of the endpoint table (see posture.h):
// it mirrors the endpoints hash map into buckets the program reads
// without a helper call. Only user space writes it.
type epTable struct {
	mems    [][]byte
	buckets []epBucket
	mu      sync.Mutex
}

func openEpTable(o *postureObjects) (*epTable, error) {
	t := &epTable{}
	var err error
	if t.buckets, err = mapArray[epBucket](&t.mems, o.PostureEptab, int(o.PostureEptab.MaxEntries())); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *epTable) close() {
	unmap(t.mems)
	t.mems, t.buckets = nil, nil
}

func epWords(a [16]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])
}

// epHash is ep_hash in posture.c.
func epHash(a0, a1 uint64, n int) int {
	h := (a0 * 0x9e3779b97f4a7c15) ^ a1
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return int(uint32(h) & uint32(n-1))
}

// write changes bucket b between two increments of its sequence count,
// so a program reading it meanwhile sees the count odd or changed and
// asks the hash map instead.
func (t *epTable) write(b *epBucket, fn func(overflow bool) bool) {
	seq := atomic.LoadUint32(&b.Seq)
	atomic.StoreUint32(&b.Seq, seq+1)
	overflow := fn(seq&epOverflow != 0)
	next := (seq + 2) &^ epOverflow
	if overflow {
		next |= epOverflow
	}
	atomic.StoreUint32(&b.Seq, next)
}

// put records a's identity. An endpoint whose bucket is full, or whose
// identity is zero (the mark of a free way), stays in the hash map only,
// and the bucket says so.
func (t *epTable) put(a [16]byte, id uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a0, a1 := epWords(a)
	b := &t.buckets[epHash(a0, a1, len(t.buckets))]
	t.write(b, func(overflow bool) bool {
		free := -1
		for i := range epWays {
			if b.Id[i] != 0 && b.Addr[i] == [2]uint64{a0, a1} {
				if id == 0 {
					b.Id[i] = 0
					return true
				}
				b.Id[i] = id
				return overflow
			}
			if b.Id[i] == 0 && free < 0 {
				free = i
			}
		}
		if id == 0 || free < 0 {
			return true
		}
		b.Addr[free] = [2]uint64{a0, a1}
		b.Id[free] = id
		return overflow
	})
}

// del forgets a. A bucket stays marked as overflowing: the hash map may
// still hold endpoints that did not fit it.
func (t *epTable) del(a [16]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a0, a1 := epWords(a)
	b := &t.buckets[epHash(a0, a1, len(t.buckets))]
	t.write(b, func(overflow bool) bool {
		for i := range epWays {
			if b.Id[i] != 0 && b.Addr[i] == [2]uint64{a0, a1} {
				b.Id[i] = 0
				b.Addr[i] = [2]uint64{}
			}
		}
		return overflow
	})
}
