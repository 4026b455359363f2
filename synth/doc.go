// Package synth generates example evidence: a synthetic shop topology and
// random topologies of any size, deterministic from a seed. The demo, the
// advisor's tests and its benchmarks use it; it never contains third-party
// data.
package synth
