package flows

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/posture-dev/posture/flow"
)

// RenderTable prints edges as a table, one row per edge.
func RenderTable(w io.Writer, edges []flow.Edge) error {
	t := tablewriter.NewTable(w,
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	t.Header("SOURCE", "DESTINATION", "PORT", "FLOWS", "SEEN AT", "VERDICTS", "PODS", "L7 / NAMES")
	for i := range edges {
		e := &edges[i]
		if err := t.Append([]string{
			Describe(e.Source, nil),
			Describe(e.Destination, e.DNSNames),
			portString(e),
			strconv.FormatUint(e.Flows, 10),
			seenAt(e),
			verdicts(e),
			fmt.Sprintf("%d→%d", len(e.SourcePods), len(e.DestinationPods)),
			l7(e),
		}); err != nil {
			return fmt.Errorf("rendering table: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("rendering table: %w", err)
	}
	return nil
}

// Describe names an endpoint the way a Cilium user reads it: a pod
// identity as namespace/workload (app label if no workload), a reserved
// entity as reserved:name, the world by its DNS name when known.
func Describe(e flow.Endpoint, names []string) string {
	switch {
	case e.IsPod():
		w := e.Workload
		if w == "" {
			for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app"} {
				if v, ok := e.Labels.Get(k); ok {
					w = v
					break
				}
			}
		}
		if w == "" {
			w = "identity " + strconv.FormatUint(uint64(e.Identity), 10)
		}
		return e.Namespace + "/" + w
	case len(names) > 0 && (e.Identity.IsWorld() || e.Identity == flow.IdentityUnknown || e.Identity >= flow.IdentityMinLocal):
		s := "world:" + names[0]
		if len(names) > 1 {
			s += fmt.Sprintf(" (+%d)", len(names)-1)
		}
		return s
	case e.Identity.IsReserved():
		return "reserved:" + e.Identity.ReservedName()
	case e.Identity >= flow.IdentityMinLocal:
		for _, l := range e.Labels {
			if l.Source == flow.SourceCIDR || l.Source == flow.SourceFQDN {
				return l.Source + ":" + l.Key
			}
		}
	}
	return "identity " + strconv.FormatUint(uint64(e.Identity), 10)
}

func portString(e *flow.Edge) string {
	switch e.Protocol {
	case flow.ProtoICMP, flow.ProtoICMPv6:
		return fmt.Sprintf("%s type %d", e.Protocol, e.Port)
	case "":
		return "-"
	}
	return fmt.Sprintf("%d/%s", e.Port, e.Protocol)
}

func seenAt(e *flow.Edge) string {
	var parts []string
	if e.ObservedEgress > 0 {
		parts = append(parts, fmt.Sprintf("egress %d", e.ObservedEgress))
	}
	if e.ObservedIngress > 0 {
		parts = append(parts, fmt.Sprintf("ingress %d", e.ObservedIngress))
	}
	return strings.Join(parts, ", ")
}

func verdicts(e *flow.Edge) string {
	var parts []string
	for v, n := range e.Verdicts.All() {
		parts = append(parts, fmt.Sprintf("%s %d", v, n))
	}
	return strings.Join(parts, ", ")
}

// l7 shows up to three HTTP samples or DNS names.
func l7(e *flow.Edge) string {
	var parts []string
	for _, h := range e.HTTP {
		parts = append(parts, fmt.Sprintf("%s %s ×%d", h.Method, h.Path, h.Count))
	}
	for _, q := range e.DNSQueries {
		parts = append(parts, "dns "+q)
	}
	if len(parts) == 0 && !(e.Destination.Identity.IsWorld() || e.Destination.Identity == flow.IdentityUnknown) {
		parts = append(parts, e.DNSNames...)
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("+%d more", len(parts)-3))
	}
	return strings.Join(parts, "; ")
}
