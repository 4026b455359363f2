// Package conformance checks posture's policy handling against Cilium
// itself: Cilium's CRD schemas and parser, and Cilium's policy engine.
package conformance
