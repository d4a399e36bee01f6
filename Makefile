# compressq — the two commands a new user needs are `make run` and `make test`.
GO      ?= go
BIN     ?= bin/compressq
# Packages that touch Redis or goroutines run under the race detector.
QUEUE_PKGS   = ./tasks/... ./producer/... ./worker/... ./metrics/... ./internal/... ./configs/... ./cmd/... ./deploy/... ./bench/...
COMPUTE_PKGS = ./compress/...

.PHONY: run build test check vet lint asm-check bench soak fuzz clean

## run: embedded Redis, a worker pool and a demo quantization job, in one process; the worker's
## /metrics listens on RUN_HTTP_ADDR (default: a free port) and the log names the address
RUN_HTTP_ADDR ?= 127.0.0.1:0
run:
	$(GO) run ./cmd/compressq local --http-addr $(RUN_HTTP_ADDR)

## build: the compressq binary in bin/
build:
	$(GO) build -o $(BIN) ./cmd/compressq

## test: vet, then every test (integration tests start their own redis-server)
test: vet
	$(GO) test -race -timeout 15m $(QUEUE_PKGS)
	$(GO) test -timeout 15m $(COMPUTE_PKGS)

## check: the edit loop — vet, then every test in -short mode (no slow fault scenarios)
check: vet
	$(GO) test -short -timeout 10m ./...

vet:
	$(GO) vet ./...

## lint: staticcheck at a pinned version
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.6.1
lint:
	$(GO) run $(STATICCHECK) ./...

## asm-check: the committed avo-generated assembly matches its generator (a separate module)
asm-check:
	cd compress/sparse/asm && $(GO) test -count=1 .

## bench: the benchmarks behind docs/BENCHMARKS.md (long)
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./worker/ ./producer/
	$(GO) test -run '^$$' -bench . ./compress/...

## soak: 200,000 no-op tasks through two worker processes (needs redis-server)
soak:
	$(GO) run ./bench/soak --tasks 200000 --workers 2

## fuzz: each fuzz target for a short, bounded time
fuzz:
	./.ci/fuzz 30s

clean:
	rm -rf bin
