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
	// spilled holds, by bucket, the endpoints only the hash map has
	// (their bucket was full, or their identity zero): a bucket is marked
	// as overflowing exactly while it has some, and a way freed in it
	// takes one back.
	spilled map[int]map[[16]byte]uint32
}

func openEpTable(o *postureObjects) (*epTable, error) {
	t := &epTable{spilled: map[int]map[[16]byte]uint32{}}
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

// write changes bucket bi between two increments of its sequence count,
// so a program reading it meanwhile sees the count odd or changed and
// asks the hash map instead, and marks it as overflowing while endpoints
// of it are spilled.
func (t *epTable) write(bi int, fn func(b *epBucket)) {
	b := &t.buckets[bi]
	seq := atomic.LoadUint32(&b.Seq)
	atomic.StoreUint32(&b.Seq, seq+1)
	fn(b)
	next := (seq + 2) &^ epOverflow
	if len(t.spilled[bi]) > 0 {
		next |= epOverflow
	}
	atomic.StoreUint32(&b.Seq, next)
}

// way is the way holding a0, a1 in b, or -1.
func way(b *epBucket, a0, a1 uint64) int {
	for i := range epWays {
		if b.Id[i] != 0 && b.Addr[i] == [2]uint64{a0, a1} {
			return i
		}
	}
	return -1
}

// spill records that only the hash map holds a, with identity id.
func (t *epTable) spill(bi int, a [16]byte, id uint32) {
	if t.spilled[bi] == nil {
		t.spilled[bi] = map[[16]byte]uint32{}
	}
	t.spilled[bi][a] = id
}

func (t *epTable) unspill(bi int, a [16]byte) {
	delete(t.spilled[bi], a)
	if len(t.spilled[bi]) == 0 {
		delete(t.spilled, bi)
	}
}

// fill moves spilled endpoints of bucket bi into its free ways.
func (t *epTable) fill(bi int, b *epBucket) {
	for i := range epWays {
		if b.Id[i] != 0 {
			continue
		}
		for a, id := range t.spilled[bi] {
			if id == 0 {
				continue // zero marks a free way: the hash map answers
			}
			b.Addr[i][0], b.Addr[i][1] = epWords(a)
			b.Id[i] = id
			t.unspill(bi, a)
			break
		}
	}
}

// put records a's identity. An endpoint whose bucket is full, or whose
// identity is zero (the mark of a free way), stays in the hash map only,
// and the bucket says so until it has none left there.
func (t *epTable) put(a [16]byte, id uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a0, a1 := epWords(a)
	bi := epHash(a0, a1, len(t.buckets))
	t.write(bi, func(b *epBucket) {
		w := way(b, a0, a1)
		switch {
		case w >= 0 && id != 0:
			b.Id[w] = id
		case w >= 0:
			b.Id[w], b.Addr[w] = 0, [2]uint64{}
			t.spill(bi, a, 0)
			t.fill(bi, b)
		case id == 0:
			t.spill(bi, a, 0)
		default:
			t.spill(bi, a, id)
			t.fill(bi, b)
		}
	})
}

// del forgets a; a way it frees takes back an endpoint the bucket had
// spilled.
func (t *epTable) del(a [16]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a0, a1 := epWords(a)
	bi := epHash(a0, a1, len(t.buckets))
	t.write(bi, func(b *epBucket) {
		t.unspill(bi, a)
		if w := way(b, a0, a1); w >= 0 {
			b.Id[w], b.Addr[w] = 0, [2]uint64{}
			t.fill(bi, b)
		}
	})
}
