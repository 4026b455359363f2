package policy

import (
	"bytes"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Marshal writes policies as multi-document YAML, the way kubectl would
// print them: keys in sorted order, documents separated by "---", the same
// bytes for the same policies. Origin is not written.
func Marshal(ps []*Policy) ([]byte, error) {
	var b bytes.Buffer
	for i, p := range ps {
		if p == nil {
			return nil, fmt.Errorf("marshalling policies: policy %d is nil", i)
		}
		y, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("marshalling policy %s: %w", p.Metadata.Name, err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
