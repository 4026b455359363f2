package conformance

import (
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/posture-dev/posture/policy"
)

// loadPolicies stands in for policy.LoadBytes until the loader lands on
// main (TODO: switch to policy.LoadBytes): strict decoding of each CNP or
// CCNP document into posture's types; other kinds are skipped.
func loadPolicies(name string, data []byte) ([]*policy.Policy, error) {
	docs, err := DecodeDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []*policy.Policy
	for i, d := range docs {
		if k := d["kind"]; k != policy.KindCNP && k != policy.KindCCNP {
			continue
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		var p policy.Policy
		if err := yaml.UnmarshalStrict(b, &p); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i+1, err)
		}
		p.Origin = policy.Origin{File: name, Doc: i}
		out = append(out, &p)
	}
	return out, nil
}
