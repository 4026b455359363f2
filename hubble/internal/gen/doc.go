// Command gen writes a synthetic Hubble export (hubble observe -o jsonpb
// lines, shaped like the shared captures) of a chosen size and number of
// distinct edges to stdout, for the ingestion memory benchmark: a 5 GB
// stream is piped into posture rather than written to disk.
package main
