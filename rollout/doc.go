// Package rollout walks each namespace (and, from the narrow stage on, each
// workload) through the safe-rollout checklist: observe, baseline, platform,
// narrow, enforce, l7. It owns the stage state machine, the promotion gates,
// the durable state kept in the cluster, and applying or exporting the
// stage's policies. Its Status types are what package reports renders.
package rollout
