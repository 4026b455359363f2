// Package evidence reads what posture decides from: posture's own JSONL
// (Edge and Flow records from the node agent or an earlier summary) and
// Hubble exports (hubble observe -o json / -o jsonpb), told apart line by
// line, from a file, a directory of files, gzip, or stdin. It streams:
// memory grows with the number of distinct edges, never with input size.
//
// Bad lines are skipped and counted (Stats says how many and which came
// first); Options.Strict stops at the first one instead.
package evidence
