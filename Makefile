# posture — the two commands that matter are `make demo` and `make test`.
GO      ?= go
BIN     := bin/posture
PKGS    := ./...
# Tests that need root, the kernel, an API server or a browser refuse to
# skip when CI=true; locally they skip with a reason.
export CI

.PHONY: help build test unit lint bench conformance demo generate generate-check fuzz clean k8s-bins

help: ## list targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z-]+:.*## /{printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/posture
	$(GO) build -o $(BIN) ./cmd/posture

demo: build ## run posture end to end on generated example data
	./$(BIN) demo --dir out/demo

test: lint k8s-bins unit conformance ## everything CI runs: lint, unit and integration tests, conformance against Cilium

unit: ## go test for the main module (root-only tests run when root)
	$(GO) test -count=1 -timeout 40m $(PKGS)

lint: ## gofmt, go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfe[lb].go$$')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# -mod=mod: the nested module replaces posture with ../, so a dependency
# added to the main module must not break this target until someone tidies.
conformance: ## differential and schema tests against Cilium v1.20.2 (nested module)
	@if [ -f conformance/go.mod ]; then cd conformance && $(GO) test -mod=mod -count=1 -timeout 40m ./...; \
	  else echo "conformance: module not present yet"; fi

k8s-bins: ## build etcd + kube-apiserver and extract Cilium CRDs into .cache/k8s (cached; first run takes minutes)
	./hack/build-k8s.sh

bench: ## Go benchmarks (figures go to BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

generate: ## regenerate bpf2go output (needs clang, llvm, libbpf-dev)
	$(GO) generate ./bpf/...

generate-check: generate ## fail when committed bpf2go output differs from a fresh generation
	@git diff --exit-code --stat -- bpf/ || { echo "bpf/: generated files are stale; run make generate and commit"; exit 1; }
	@if [ -n "$$(git ls-files --others --exclude-standard -- bpf/)" ]; then \
	  echo "bpf/: generation made untracked files:"; git ls-files --others --exclude-standard -- bpf/; exit 1; fi

fuzz: ## run each fuzz target briefly
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$t $$f"; (cd $$t && $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 20s .) || exit 1; done; done

clean: ## remove build output
	rm -rf bin out

.PHONY: bench-ingest
bench-ingest: ## command-line ingestion benchmark: throughput vs jq on the captures x1460, peak memory on a 5 GB stream
	./hubble/internal/gen/ingest-bench.sh
