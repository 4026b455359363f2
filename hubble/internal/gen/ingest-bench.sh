#!/usr/bin/env bash
# Command-line ingestion benchmark (figures go to BENCHMARKS.md "## ingestion").
#  1. throughput: the shared captures replicated to >= 1M lines, read by
#     posture flows summarize and, in the same run, by jq -c extracting the
#     same fields; CPU seconds (user+sys) and wall seconds for each.
#  2. memory: a generated 5 GB Hubble export with 10,000 distinct edges piped
#     through posture flows summarize; peak RSS from /usr/bin/time -v.
# Needs jq and /usr/bin/time. Usage: ingest-bench.sh [reps] [bytes]
set -euo pipefail
cd "$(dirname "$0")/../../.."
reps=${1:-1460}
bytes=${2:-5e9}
shared=${POSTURE_SHARED:-$(pwd)/../shared}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/posture" ./cmd/posture
go build -o "$work/gen" ./hubble/internal/gen

caps=("$shared"/testdata/hubble/*.json)
for ((i = 0; i < reps; i++)); do cat "${caps[@]}"; done >"$work/replicated.json"
lines=$(wc -l <"$work/replicated.json")
size=$(stat -c %s "$work/replicated.json")
echo "input: $lines lines, $size bytes (${#caps[@]} captures x $reps)"

measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%U %S %e %M" -o "$work/t" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
  read -r user sys wall rss <"$work/t"
  cpu=$(echo "$user + $sys" | bc)
  printf '%-10s cpu %6.2fs  wall %6.2fs  %9.0f lines/cpu-s  %9.0f lines/s  maxrss %d KiB\n' \
    "$label" "$cpu" "$wall" "$(echo "$lines / $cpu" | bc -l)" "$(echo "$lines / $wall" | bc -l)" "$rss"
  eval "${label//-/_}_cpu=$cpu"
}

# The fields the decoder reads, nothing else.
filter='(.flow // .) | {time, verdict, drop_reason_desc, IP: (.IP | {source, destination}), l4,
  source: (.source | {identity, namespace, pod_name, labels, workloads}),
  destination: (.destination | {identity, namespace, pod_name, labels, workloads}),
  Type, node_name, source_names, destination_names,
  l7: (.l7 | if . then {type, dns, http: (.http | if . then {code, method, url} else null end)} else null end),
  reply, is_reply, event_type, traffic_direction,
  ingress_allowed_by, egress_allowed_by, ingress_denied_by, egress_denied_by}'

measure posture taskset -c 0 "$work/posture" flows summarize --flows "$work/replicated.json" -o json
measure jq taskset -c 0 jq -c "$filter" "$work/replicated.json"
printf 'posture vs jq (CPU time): %.1fx\n' "$(echo "$jq_cpu / $posture_cpu" | bc -l)"
rm -f "$work/replicated.json"

echo "memory: $bytes bytes of generated Hubble export, 10000 edges, through a pipe"
/usr/bin/time -v -o "$work/tv" bash -c "'$work/gen' -edges 10000 -bytes $bytes | '$work/posture' flows summarize --flows - -o json >'$work/edges.jsonl' 2>'$work/footer'"
cat "$work/footer"
echo "edges written: $(wc -l <"$work/edges.jsonl")"
grep -E 'Maximum resident|Elapsed' "$work/tv"
