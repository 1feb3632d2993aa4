# ridematch: `make demo` runs the whole thing on an embedded broker; `make test` runs the tests.
GO       ?= go
BIN      := bin/ridematch
COMPOSE  ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
DEMO_FLAGS ?=

.PHONY: all build test demo lint fuzz up down clean

all: lint test build

build:
	$(GO) build -o $(BIN) ./cmd/ridematch

# Every test: table, fuzz seeds, and end-to-end on in-process brokers. The tests that use
# kcat and kafka-python skip with a note when those are not installed (.ci/run installs
# them and makes them mandatory).
test:
	$(GO) test -count=1 ./...

# The main job: broker, simulator and two engine instances in one process, with a live
# summary each second. Ctrl-C stops it; DEMO_FLAGS="--duration 1m" bounds it.
demo: build
	./$(BIN) demo $(DEMO_FLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Run each decoder and time fuzzer, and the schemas' agreement with the router, for
# FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzDecodeInput -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeLog -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzDecodeOutcome -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzSchemaAgreesWithRouter -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzParseTime -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzParseWallTime -fuzztime=$(FUZZTIME) ./event/
	$(GO) test -run='^$$' -fuzz=FuzzTimeArithmetic -fuzztime=$(FUZZTIME) ./event/

# A real Kafka cluster (three KRaft brokers) with the topics, three engine replicas, the
# simulator and Prometheus (docker-compose.yml).
up:
	$(COMPOSE) up -d --build

down:
	$(COMPOSE) down -v

clean:
	rm -rf bin
