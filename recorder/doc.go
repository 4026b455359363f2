// Package recorder is the node agent: it attaches posture's eBPF programs
// to pod endpoints, maps IPs to Cilium-compatible identities, parses DNS
// answers, keeps the shadow (audit) policy map in sync with the staged set,
// and exports aggregated edges in posture's JSONL format.
//
// The kernel maps are the source of truth: edges are rebuilt from the
// pinned flow map on every export, so ring-buffer loss delays an event but
// never loses an edge, and an agent restart keeps every count.
package recorder
