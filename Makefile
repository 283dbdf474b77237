# Berth. `make run` starts a dev cluster with the demo app; `make test` runs
# the whole suite. Both install what is missing first.
GO      ?= go
GOBIN   := $(shell $(GO) env GOPATH)/bin
PKGS    := ./...
# Packages with concurrency run under the race detector.
RACE    := ./fsm/... ./raft/... ./agent/... ./client/... ./controller/... ./scheduler/... ./gossip/... ./driver/... ./netsvc/...
# How long `make fuzz` runs each fuzz target (`make test` passes 30s).
FUZZTIME ?= 10m

.PHONY: all build install run stop test test-unit test-e2e fuzz bench jepsen jepsen-sweep proto lint deps clean

all: build

deps:
	@bash scripts/install-deps.sh

# The release the binary and its agents announce (berth version, gossip,
# nodes, metrics).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/berth-dev/berth/agent.Version=$(VERSION)

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/berth ./cmd/berth

# Installs the binary, the systemd unit and an example /etc/berth/agent.yaml
# (an existing one stays); enables and starts nothing. PREFIX and DESTDIR
# as usual: `make install DESTDIR=/tmp/pkg PREFIX=/usr`.
PREFIX  ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
install: build
	install -D -m 0755 bin/berth $(DESTDIR)$(PREFIX)/bin/berth
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/berth|$(PREFIX)/bin/berth|' deploy/systemd/berth.service >$(DESTDIR)$(UNITDIR)/berth.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berth.service
	install -d -m 0755 $(DESTDIR)/etc/berth
	@if [ -e $(DESTDIR)/etc/berth/agent.yaml ]; then echo "$(DESTDIR)/etc/berth/agent.yaml exists: kept"; \
	else install -m 0600 deploy/agent.yaml.example $(DESTDIR)/etc/berth/agent.yaml; fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "berth installed; edit /etc/berth/agent.yaml, then: systemctl enable --now berth"

run: build
	@bash scripts/run-dev.sh

stop:
	@if [ -f .berth-dev/agent.pid ]; then kill $$(cat .berth-dev/agent.pid) 2>/dev/null || true; rm -f .berth-dev/agent.pid; echo "berth: dev agent stopped"; fi
	@sleep 1; if [ -f .berth-dev/containerd.sock.path ]; then ./bin/berth agent purge --name dev --data-dir .berth-dev/data --containerd-socket $$(cat .berth-dev/containerd.sock.path) || true; fi
	@if [ -f .berth-dev/containerd.pid ]; then kill $$(cat .berth-dev/containerd.pid) 2>/dev/null || true; rm -f .berth-dev/containerd.pid; echo "berth: dev containerd stopped"; fi

test: build bin/berth-lossy
	@bash scripts/install-deps.sh test
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -race $(RACE)
	BERTH_BIN=$(CURDIR)/bin/berth BERTH_LOSSY_BIN=$(CURDIR)/bin/berth-lossy $(GO) test -count=1 -timeout 20m $(PKGS)
	$(MAKE) fuzz FUZZTIME=30s

# Every fuzz target for $(FUZZTIME), one at a time, with one worker so that
# a 2-core CI machine is not starved. A failing input is written under the
# package's testdata/fuzz/ and then runs with the package's tests. The
# fuzzer would spend up to a minute shrinking each new interesting input
# (-fuzzminimizetime); in a 30-second run that was most of the time.
FUZZFLAGS = -fuzztime $(FUZZTIME) -fuzzminimizetime 2s -parallel 1
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeDocuments$$' $(FUZZFLAGS) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeObject$$' $(FUZZFLAGS) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeStored$$' $(FUZZFLAGS) ./api/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCommand$$' $(FUZZFLAGS) ./fsm/
	$(GO) test -run '^$$' -fuzz '^FuzzHasDotDot$$' $(FUZZFLAGS) ./driver/volume/
	$(GO) test -run '^$$' -fuzz '^FuzzProjectPath$$' $(FUZZFLAGS) ./driver/volume/
	$(GO) test -run '^$$' -fuzz '^FuzzSubPath$$' $(FUZZFLAGS) ./driver/volume/
	$(GO) test -run '^$$' -fuzz '^FuzzHostPath$$' $(FUZZFLAGS) ./driver/volume/

# A broken build for the Jepsen suite's negative control: it acknowledges
# writes before they commit. Never ship it.
bin/berth-lossy: build
	$(GO) build -tags jepsenlossy -o bin/berth-lossy ./cmd/berth

# The Jepsen matrix: every nemesis with 3 and 5 servers, the negative
# controls, 200 partition cycles and leader-kill timing (about 30 min).
# Reports go to jepsen/runs/; JEPSEN_ARGS adds flags (e.g. -seed 42 -time 20s).
jepsen: build bin/berth-lossy
	$(GO) run ./jepsen/cmd/berth-jepsen -bin bin/berth -lossy-bin bin/berth-lossy -matrix $(JEPSEN_ARGS)

# Removes what a killed Jepsen run left: namespaces, bridges, rules, processes.
jepsen-sweep:
	$(GO) run ./jepsen/cmd/berth-jepsen sweep

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./fsm/...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./scheduler/...
	$(GO) test -run '^$$' -bench ScheduleEndToEnd -benchtime 1x -timeout 10m ./agent/
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -run '^$$' -bench 'Detection|NoFalseNotReady' -benchtime 1x -timeout 30m ./test/e2e/
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -run '^$$' -bench StartLatency -benchtime 1x -timeout 20m ./test/pods/
	@bash scripts/install-deps.sh bench
	BERTH_BIN=$(CURDIR)/bin/berth $(GO) test -run '^$$' -bench ServicePaths -benchtime 1x -timeout 10m ./test/services/
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
