// Package recorder is the node agent: it attaches posture's eBPF programs
// to pod endpoints, maps IPs to Cilium-compatible identities, parses DNS
// answers, keeps the shadow (audit) policy map in sync with the staged set,
// and exports aggregated edges in posture's JSONL format.
package recorder
