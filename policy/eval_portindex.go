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

// allowFor returns the allow rules that can admit proto and port, in
// allow's order: all of them without an index, else the indexed rules for
// the port merged with the others into buf. Rules left out fail matchL4
// and have no named ports.
func (dp *dirPolicy) allowFor(buf []*entry, proto flow.Protocol, port uint16) []*entry {
	if dp.byPort == nil {
		return dp.allow
	}
	lo, _ := slices.BinarySearchFunc(dp.byPort, portPos{port: port, proto: proto}, func(x, t portPos) int {
		return comparePortPos(x, t.port, t.proto)
	})
	hi := lo
	for hi < len(dp.byPort) && dp.byPort[hi].port == port && dp.byPort[hi].proto == proto {
		hi++
	}
	at, other := dp.byPort[lo:hi], dp.other
	for len(at) > 0 || len(other) > 0 {
		if len(other) == 0 || len(at) > 0 && at[0].pos < other[0] {
			buf, at = append(buf, dp.allow[at[0].pos]), at[1:]
		} else {
			buf, other = append(buf, dp.allow[other[0]]), other[1:]
		}
	}
	return buf
}
