// Package testbed builds real network namespaces for tests: a "node"
// namespace holding a bridge, and "pods" joined to it by veth pairs, so
// programs attach to real host-side veths and real servers and clients
// talk through them. Nothing touches the host's own interfaces: every
// interface and address lives in namespaces the test bed created, all
// named with a random per-run prefix and deleted by name on cleanup.
package testbed
