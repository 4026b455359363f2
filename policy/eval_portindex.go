package policy

import (
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// A subject with many rules (one per peer, as generated policies have)
// would have every flow test every rule's ports. Its allow rules are
// indexed by the exact protocol and port they admit, so a flow visits
// only the rules that can match it, in their order; rules the index cannot
// place exactly (no ports, wide ranges, any port, ANY, named ports) are
// always visited.

// minIndexed is the number of allow rules from which an index pays.
const minIndexed = 8

// portPos says that the rule at pos in allow admits port on proto.
type portPos struct {
	port  uint16
	proto flow.Protocol
	pos   int32
}

func comparePortPos(x portPos, port uint16, proto flow.Protocol) int {
	if x.port != port {
		return int(x.port) - int(port)
	}
	return strings.Compare(string(x.proto), string(proto))
}

// index builds byPort and other from allow, which must be in final order.
func (dp *dirPolicy) index() {
	if len(dp.allow) < minIndexed {
		return
	}
	dp.byPort = make([]portPos, 0, len(dp.allow))
	for pos, en := range dp.allow {
		if !exactPorts(en) {
			dp.other = append(dp.other, int32(pos))
			continue
		}
		for i := range en.ports {
			m := &en.ports[i]
			for p := int(m.lo); p <= int(m.hi); p++ {
				dp.byPort = append(dp.byPort, portPos{uint16(p), m.proto, int32(pos)})
			}
		}
	}
	slices.SortFunc(dp.byPort, func(x, y portPos) int {
		if c := comparePortPos(x, y.port, y.proto); c != 0 {
			return c
		}
		return int(x.pos - y.pos)
	})
	// A rule listing one port twice is visited once.
	dp.byPort = slices.Compact(dp.byPort)
}

// maxIndexedRange is the widest port range indexed port by port.
const maxIndexedRange = 32

// exactPorts reports whether every port of en is one protocol and a short
// range of ports, so the rule admits exactly those and nothing else.
func exactPorts(en *entry) bool {
	if !en.hasL4 || len(en.ports) == 0 {
		return false
	}
	for i := range en.ports {
		m := &en.ports[i]
		if m.named != "" || m.any || m.hi-m.lo >= maxIndexedRange || m.proto == flow.ProtoAny {
			return false
		}
	}
	return true
}

// allowIter visits the allow rules that can admit a protocol and port, in
// allow's order. Rules it skips fail matchL4 and have no named ports.
type allowIter struct {
	allow   []*entry
	at      []portPos
	other   []int32
	i, j    int
	indexed bool
}

func (dp *dirPolicy) allowFor(proto flow.Protocol, port uint16) allowIter {
	if dp.byPort == nil {
		return allowIter{allow: dp.allow}
	}
	lo, _ := slices.BinarySearchFunc(dp.byPort, portPos{port: port, proto: proto}, func(x, t portPos) int {
		return comparePortPos(x, t.port, t.proto)
	})
	hi := lo
	for hi < len(dp.byPort) && dp.byPort[hi].port == port && dp.byPort[hi].proto == proto {
		hi++
	}
	return allowIter{allow: dp.allow, at: dp.byPort[lo:hi], other: dp.other, indexed: true}
}

// next returns the next rule, or nil when done.
func (it *allowIter) next() *entry {
	if !it.indexed {
		if it.i >= len(it.allow) {
			return nil
		}
		it.i++
		return it.allow[it.i-1]
	}
	switch {
	case it.i < len(it.at) && (it.j >= len(it.other) || it.at[it.i].pos < it.other[it.j]):
		it.i++
		return it.allow[it.at[it.i-1].pos]
	case it.j < len(it.other):
		it.j++
		return it.allow[it.other[it.j-1]]
	}
	return nil
}
