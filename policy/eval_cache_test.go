package policy

import (
	"sync"
	"testing"
)

func TestLFMap(t *testing.T) {
	var m lfMap[int]
	if m.load(1) != nil {
		t.Fatal("empty map found a key")
	}
	for i := range 1000 {
		v := i * 3
		if got := m.store(uint64(i)<<20, &v, 0); *got != v {
			t.Fatalf("store %d returned %d", i, *got)
		}
	}
	for i := range 1000 {
		if v := m.load(uint64(i) << 20); v == nil || *v != i*3 {
			t.Fatalf("key %d: %v", i, v)
		}
	}
	other := -1
	if got := m.store(5<<20, &other, 0); *got != 15 {
		t.Errorf("a second store replaced the first value: %d", *got)
	}
	// The limit empties the map instead of growing it.
	var b lfMap[int]
	for i := range 100 {
		v := i
		b.store(uint64(i), &v, 10)
	}
	if b.n > 10 || b.load(99) == nil || b.load(0) != nil {
		t.Errorf("bounded map holds %d entries", b.n)
	}
}

func TestLFMapConcurrent(t *testing.T) {
	var m lfMap[uint64]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				k := uint64(i*4 + g)
				v := k * 7
				m.store(k, &v, 0)
				if got := m.load(k); got == nil || *got != k*7 {
					t.Errorf("key %d: %v", k, got)
					return
				}
			}
		})
	}
	wg.Wait()
	for k := range uint64(20000) {
		if got := m.load(k); got == nil || *got != k*7 {
			t.Fatalf("key %d after the writers: %v", k, got)
		}
	}
}
