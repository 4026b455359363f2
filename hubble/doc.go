// Package hubble reads Hubble flow exports: the lines `hubble observe -o
// json` and `-o jsonpb` print (GetFlowsResponse wrappers with node_name and
// time, or bare flow objects), including the non-flow responses node_status
// and lost_events, into posture's flow vocabulary. It also owns what turns
// a stream of Hubble events into honest counts: the connection tracker that
// folds the several events Hubble emits per packet and per observation
// point, and the DNS name map that gives later flows the names their IPs
// were resolved from, as Cilium's FQDN cache does.
//
// Decoding is a hand-written single-pass scanner that reads only the fields
// posture uses and skips the rest; BENCHMARKS.md records why (it measured
// against encoding/json and json-iterator). Unknown fields are tolerated,
// since Hubble adds fields across versions.
package hubble
