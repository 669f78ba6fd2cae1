# tcp-advisor build, test, lint, bench and package targets.
GO        ?= go
BIN       := bin/tcp-advisor
PKGS      := ./...
FUZZTIME  ?= 3s
export CGO_ENABLED := 0

.PHONY: all build test unit fuzz lint bench clean

all: build

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/tcp-advisor

# test runs everything: unit tests, kernel tests in scratch network namespaces
# (as root), system tests in a systemd-nspawn container, and a short fuzz of
# each parser. Under CI=true nothing may skip for lack of root or tools.
test: build unit fuzz

unit:
	$(GO) test -count=1 -timeout 40m $(PKGS)

# Each fuzz target runs for FUZZTIME; `go test -fuzz` takes one target at a time.
fuzz:
	@set -e; for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$f); do \
			echo "fuzz ./$$(dirname $$f) $$name"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

bench: build
	$(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/bench/

clean:
	rm -rf bin dist
