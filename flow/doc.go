// Package flow is posture's shared vocabulary for observed traffic: the
// endpoint and flow records every stage passes along, Cilium-compatible
// security-identity labels, and the aggregated identity-to-identity edge
// with its versioned JSONL encoding.
//
// It owns no I/O beyond encoding; readers of Hubble exports live in package
// hubble and the kernel recorder in package recorder.
package flow
