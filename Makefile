# Berth. `make run` starts a dev cluster with the demo app; `make test` runs
# the whole suite. Both install what is missing first.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
PKGS    := ./...
# Packages with concurrency run under the race detector.
RACE    := ./fsm/... ./raft/... ./agent/... ./client/... ./controller/... ./scheduler/... ./gossip/... ./driver/...

.PHONY: all build run stop test test-unit test-e2e bench proto lint deps clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	$(GO) build -o bin/berth ./cmd/berth

run: build
	@bash scripts/run-dev.sh

stop:
	@if [ -f .berth-dev/agent.pid ]; then kill $$(cat .berth-dev/agent.pid) 2>/dev/null || true; rm -f .berth-dev/agent.pid; echo "berth: dev agent stopped"; fi
	@sleep 1; if [ -f .berth-dev/containerd.sock.path ]; then ./bin/berth agent purge --name dev --data-dir .berth-dev/data --containerd-socket $$(cat .berth-dev/containerd.sock.path) || true; fi
	@if [ -f .berth-dev/containerd.pid ]; then kill $$(cat .berth-dev/containerd.pid) 2>/dev/null || true; rm -f .berth-dev/containerd.pid; echo "berth: dev containerd stopped"; fi

test: build
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -race $(RACE)
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -count=1 -timeout 20m $(PKGS)

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./scheduler/...
	$(GO) test -run '^$$' -bench ScheduleEndToEnd -benchtime 1x -timeout 10m ./agent/
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -run '^$$' -bench 'Detection|NoFalseNotReady' -benchtime 1x -timeout 30m ./test/e2e/
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -run '^$$' -bench StartLatency -benchtime 1x -timeout 20m ./test/pods/
	@bash scripts/bench.sh

proto:
	@bash scripts/install-deps.sh proto
	PATH="$(GOBIN):$$PATH" protoc --go_out=. --go_opt=module=github.com/berth-dev/berth \
		--go-grpc_out=. --go-grpc_opt=module=github.com/berth-dev/berth proto/berth.proto

lint:
	gofmt -l . | (! grep .)
	$(GO) vet $(PKGS)
	@[ -x $(GOBIN)/staticcheck ] || GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	$(GOBIN)/staticcheck $(PKGS)

clean:
	rm -rf bin .berth-dev
