#!/usr/bin/env bash
# Builds the etcd and kube-apiserver binaries the acceptance tests and the
# demo run, and extracts Cilium's CRDs, into .cache/k8s (or $POSTURE_K8S_BINS).
# Idempotent: a versions stamp makes a second run a no-op. Everything comes
# from the Go module proxy; hack/etcd and hack/kube-apiserver are small
# build-only modules so the main module never depends on them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${POSTURE_K8S_BINS:-$root/.cache/k8s}
etcd_version=v3.6.13
kube_version=v1.36.4
cilium_version=v1.20.2
stamp="etcd=$etcd_version kube-apiserver=$kube_version cilium-crds=$cilium_version"

if [ -x "$out/etcd" ] && [ -x "$out/kube-apiserver" ] && [ -f "$out/crds/ciliumnetworkpolicies.yaml" ] &&
  [ "$(cat "$out/versions" 2>/dev/null)" = "$stamp" ]; then
  echo "k8s-bins: cached in $out ($stamp)"
  exit 0
fi
mkdir -p "$out"
# Two builds at once (make -j, parallel test packages) would race on the
# output files: take a lock, and re-check the cache once we hold it.
if command -v flock >/dev/null; then
  exec 9>"$out/.lock"
  flock 9
  if [ "$(cat "$out/versions" 2>/dev/null)" = "$stamp" ] && [ -x "$out/kube-apiserver" ]; then
    echo "k8s-bins: built by a concurrent run in $out"
    exit 0
  fi
fi
export GOWORK=off GOFLAGS=-buildvcs=false
go=${GO:-go}

echo "k8s-bins: building etcd $etcd_version (about a minute)"
(cd "$root/hack/etcd" && $go build -trimpath -ldflags='-s -w' -o "$out/etcd.tmp.$$" go.etcd.io/etcd/server/v3)
mv "$out/etcd.tmp.$$" "$out/etcd"

echo "k8s-bins: building kube-apiserver $kube_version (a few minutes)"
(cd "$root/hack/kube-apiserver" && $go build -trimpath -ldflags='-s -w' -o "$out/kube-apiserver.tmp.$$" k8s.io/kubernetes/cmd/kube-apiserver)
mv "$out/kube-apiserver.tmp.$$" "$out/kube-apiserver"

echo "k8s-bins: extracting Cilium $cilium_version CRDs"
dir=$(cd "$root/hack/etcd" && $go mod download -json "github.com/cilium/cilium@$cilium_version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] || { echo "k8s-bins: cannot locate github.com/cilium/cilium@$cilium_version" >&2; exit 1; }
rm -rf "$out/crds" && mkdir -p "$out/crds"
cp "$dir"/pkg/k8s/apis/cilium.io/client/crds/v2/*.yaml "$out/crds/"
chmod u+w "$out"/crds/*.yaml

echo "$stamp" >"$out/versions"
echo "k8s-bins: ready in $out"
