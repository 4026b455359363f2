package advisor

// scratch is the memory a worker reuses from namespace to namespace for
// what lives only while one namespace is proposed: its peer accumulators
// and its rule specs. Nothing handed out outlives the namespace (rendered
// documents copy what they keep), and reusing the arrays spares the heap
// the churn of allocating them afresh for every namespace.
type scratch struct {
	chunks      [][]peerAcc
	chunk, used int // the next free accumulator is chunks[chunk][used]
	// Arenas for lists that die with the namespace.
	specs []ruleSpec
	ports []portKey
	peers []*peerAcc
	// Buffers for one call of groupBySig at a time.
	keyed []sigKeyed
	sigs  []byte
	order []int32
}

const scratchChunk = 256

// newPeer hands out a cleared peer accumulator; a nil scratch allocates.
func (s *scratch) newPeer(p peer) *peerAcc {
	if s == nil {
		return &peerAcc{p: p}
	}
	if s.chunk == len(s.chunks) {
		s.chunks = append(s.chunks, make([]peerAcc, scratchChunk))
	}
	pa := &s.chunks[s.chunk][s.used]
	pa.p = p
	if s.used++; s.used == scratchChunk {
		s.chunk, s.used = s.chunk+1, 0
	}
	return pa
}

// specList returns an empty list with room for n specs. Appending beyond
// n moves the list to the heap, as any slice would.
func (s *scratch) specList(n int) []ruleSpec {
	if s == nil {
		return make([]ruleSpec, 0, n)
	}
	return take(&s.specs, n)
}

// take returns an empty slice with room for n from *arena, starting a
// bigger array when it has no room: slices handed out keep the old one.
func take[T any](arena *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	a := *arena
	if len(a)+n > cap(a) {
		a = make([]T, 0, max(2*cap(a), n, 1024))
	}
	start := len(a)
	*arena = a[:start+n]
	return a[start : start : start+n]
}

// reset clears everything handed out, to be handed out again.
func (s *scratch) reset() {
	for i := 0; i < s.chunk; i++ {
		clear(s.chunks[i])
	}
	if s.chunk < len(s.chunks) {
		clear(s.chunks[s.chunk][:s.used])
	}
	s.chunk, s.used = 0, 0
	clear(s.specs)
	clear(s.peers)
	s.specs, s.ports, s.peers = s.specs[:0], s.ports[:0], s.peers[:0]
}
