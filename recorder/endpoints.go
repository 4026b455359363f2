package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/posture-dev/posture/flow"
)

// Endpoint is one pod (or pod-like workload) on this node.
type Endpoint struct {
	Namespace       string
	Pod             string
	Workload        string
	IPs             []netip.Addr
	Labels          map[string]string
	NamespaceLabels map[string]string
	ServiceAccount  string
	// Interface is the host side of the pod's veth; empty means the
	// endpoint is known (for identities) but not observed here.
	Interface string
}

// IdentityLabels are the endpoint's Cilium security-identity labels.
func (e *Endpoint) IdentityLabels() flow.Labels {
	return flow.PodIdentity{
		Namespace:       e.Namespace,
		ServiceAccount:  e.ServiceAccount,
		PodLabels:       e.Labels,
		NamespaceLabels: e.NamespaceLabels,
	}.IdentityLabels()
}

// Key names the endpoint uniquely on the node.
func (e *Endpoint) Key() string { return e.Namespace + "/" + e.Pod }

func (e *Endpoint) equal(o *Endpoint) bool {
	return e.Namespace == o.Namespace && e.Pod == o.Pod && e.Workload == o.Workload &&
		slices.Equal(e.IPs, o.IPs) && mapsEqual(e.Labels, o.Labels) &&
		mapsEqual(e.NamespaceLabels, o.NamespaceLabels) &&
		e.ServiceAccount == o.ServiceAccount && e.Interface == o.Interface
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// endpointsFile is the --endpoints format (see README).
type endpointsFile struct {
	Endpoints []rawEndpoint `yaml:"endpoints"`
}

// rawEndpoint reads addresses as text, so a bad one is reported with its
// line like every other field.
type rawEndpoint struct {
	Namespace       string            `yaml:"namespace"`
	Pod             string            `yaml:"pod"`
	Workload        string            `yaml:"workload,omitempty"`
	IPs             []string          `yaml:"ips"`
	Labels          map[string]string `yaml:"labels,omitempty"`
	NamespaceLabels map[string]string `yaml:"namespaceLabels,omitempty"`
	ServiceAccount  string            `yaml:"serviceAccount,omitempty"`
	Interface       string            `yaml:"interface,omitempty"`
}

// MaxEndpointsFileBytes bounds the --endpoints file.
const MaxEndpointsFileBytes = 16 << 20

// LoadEndpointsFile reads an --endpoints file.
func LoadEndpointsFile(path string) ([]Endpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading endpoints: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxEndpointsFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading endpoints: %w", err)
	}
	if len(data) > MaxEndpointsFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxEndpointsFileBytes)
	}
	return ParseEndpoints(path, data)
}

// ParseEndpoints parses the --endpoints format; errors name the file,
// line and field.
func ParseEndpoints(name string, data []byte) ([]Endpoint, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc endpointsFile
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			// "line 5: field x not found" -> "file:5: field x not found"
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = name + ":" + strings.TrimPrefix(m, "line ")
			}
			return nil, errors.New(strings.Join(msgs, "; "))
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	// A second pass over the node tree gives each endpoint its line.
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root)
	lines := endpointLines(&root)
	line := func(i int) int {
		if i < len(lines) {
			return lines[i]
		}
		return 0
	}
	seenIP := map[netip.Addr]string{}
	seenPod := map[string]bool{}
	out := make([]Endpoint, len(doc.Endpoints))
	for i, raw := range doc.Endpoints {
		e := &out[i]
		*e = Endpoint{
			Namespace: raw.Namespace, Pod: raw.Pod, Workload: raw.Workload,
			Labels: raw.Labels, NamespaceLabels: raw.NamespaceLabels,
			ServiceAccount: raw.ServiceAccount, Interface: raw.Interface,
		}
		at := func(field, msg string, args ...any) error {
			return fmt.Errorf("%s:%d: endpoints[%d].%s: %s", name, line(i), i, field, fmt.Sprintf(msg, args...))
		}
		switch {
		case e.Namespace == "":
			return nil, at("namespace", "required")
		case e.Pod == "":
			return nil, at("pod", "required")
		case len(raw.IPs) == 0:
			return nil, at("ips", "at least one address required")
		}
		if seenPod[e.Key()] {
			return nil, at("pod", "%s listed twice", e.Key())
		}
		seenPod[e.Key()] = true
		for j, text := range raw.IPs {
			ip, err := netip.ParseAddr(text)
			if err != nil || ip.Zone() != "" {
				return nil, at(fmt.Sprintf("ips[%d]", j), "%q is not an IP address", text)
			}
			ip = ip.Unmap()
			e.IPs = append(e.IPs, ip)
			if other, dup := seenIP[ip]; dup {
				return nil, at(fmt.Sprintf("ips[%d]", j), "%s already belongs to %s", ip, other)
			}
			seenIP[ip] = e.Key()
		}
		if strings.ContainsAny(e.Interface, "/ \t") || len(e.Interface) > 15 {
			return nil, at("interface", "%q is not an interface name", e.Interface)
		}
	}
	return out, nil
}

func endpointLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "endpoints" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, n := range m.Content[i+1].Content {
				out = append(out, n.Line)
			}
			return out
		}
	}
	return nil
}
