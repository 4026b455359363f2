package policy

import (
	"fmt"
	"reflect"
	"strings"
)

// unknownFieldHint explains the unknown fields people actually write, and
// otherwise suggests the nearest real field name.
func unknownFieldHint(t reflect.Type, key string) string {
	switch {
	case key == "deny" && t == reflect.TypeFor[Rule]():
		return `Cilium has no "deny" field: use egressDeny in a policy selecting the source, or ingressDeny in a policy selecting the destination`
	case key == "rules" && t == reflect.TypeFor[PortDenyRule]():
		return "deny rules cannot have L7 rules: deny the port, or allow-list at L7 in an ingress/egress rule"
	case key == "toFQDNs" && t == reflect.TypeFor[EgressDenyRule]():
		return "toFQDNs cannot be used in egressDeny: deny by toCIDRSet, or allow-list the names in an egress rule"
	case key == "namespace" && t == reflect.TypeFor[Rule]():
		return "the namespace belongs in metadata.namespace"
	case (key == "ports" || key == "port") && (t == reflect.TypeFor[IngressRule]() || t == reflect.TypeFor[EgressRule]() ||
		t == reflect.TypeFor[IngressDenyRule]() || t == reflect.TypeFor[EgressDenyRule]()):
		return `ports go inside toPorts: toPorts: [ { ports: [ { port: "80", protocol: TCP } ] } ]`
	case t == reflect.TypeFor[Policy]() && (key == "endpointSelector" || key == "ingress" || key == "egress" || key == "ingressDeny" || key == "egressDeny" || key == "nodeSelector"):
		return "rule fields belong under spec:"
	case key == "fromCIDRs" || key == "toCIDRs":
		return fmt.Sprintf("did you mean %q?", strings.TrimSuffix(key, "s"))
	case key == "matchLabel":
		return `did you mean "matchLabels"?`
	}
	return nearest(t, key)
}

func nearest(t reflect.Type, key string) string {
	w := &walker{fields: map[reflect.Type]map[string]reflect.Type{}}
	best, bestD := "", 3
	if len(key) <= 4 {
		bestD = 2
	}
	for name := range w.fieldsOf(t) {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf("field names are case-sensitive: did you mean %q?", name)
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(key)); d < bestD || d == bestD && best != "" && name < best {
			best, bestD = name, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return ""
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
