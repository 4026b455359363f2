package recorder

import (
	"sync"

	"github.com/posture-dev/posture/flow"
)

// firstPodIdentity is where Cilium starts cluster-scoped identities.
const firstPodIdentity = 256

// Allocator hands out stable numeric identities: one per distinct pod
// identity-label set (from 256, as Cilium's cluster scope), and one per
// world class (from 1<<24, Cilium's local scope). Numbers are local to
// this agent; exported edges carry the labels, which are what matter.
type Allocator struct {
	mu        sync.Mutex
	byKey     map[string]flow.Identity
	labels    map[flow.Identity]flow.Labels
	nextPod   flow.Identity
	nextLocal flow.Identity
}

// NewAllocator returns an empty allocator.
func NewAllocator() *Allocator {
	return &Allocator{
		byKey:     map[string]flow.Identity{},
		labels:    map[flow.Identity]flow.Labels{},
		nextPod:   firstPodIdentity,
		nextLocal: flow.IdentityMinLocal,
	}
}

// Pod returns the identity for a pod label set.
func (a *Allocator) Pod(ls flow.Labels) flow.Identity {
	return a.alloc("pod:"+ls.Key(), ls, &a.nextPod)
}

// Local returns the identity for a world class named by key.
func (a *Allocator) Local(key string) flow.Identity {
	return a.alloc("local:"+key, nil, &a.nextLocal)
}

func (a *Allocator) alloc(key string, ls flow.Labels, next *flow.Identity) flow.Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id, ok := a.byKey[key]; ok {
		return id
	}
	id := *next
	*next++
	a.byKey[key] = id
	if ls != nil {
		a.labels[id] = ls
	}
	return id
}

// Labels returns a pod identity's labels.
func (a *Allocator) Labels(id flow.Identity) (flow.Labels, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ls, ok := a.labels[id]
	return ls, ok
}
