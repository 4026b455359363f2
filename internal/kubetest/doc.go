// Package kubetest starts a real etcd and kube-apiserver on loopback for
// acceptance tests and the demo: it makes the certificates and the
// service-account key pair, picks free ports, waits for /readyz, installs
// Cilium's CRDs and tears everything down. The binaries come from
// hack/build-k8s.sh (make k8s-bins), cached in .cache/k8s.
package kubetest
