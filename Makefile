# tcp-advisor build, test, lint, bench and package targets.
GO        ?= go
# The Go release every build uses: the go command fetches it through the
# module proxy when the installed go is older.
export GOTOOLCHAIN := go1.27.3
BIN       := bin/tcp-advisor
PKGS      := ./...
FUZZTIME  ?= 2000x
export CGO_ENABLED := 0
# The tools the build runs (staticcheck, govulncheck, nfpm) are pinned in a
# module of their own, so go.mod lists only what the binary links; so are
# the tests that need more than it links, each a module that replaces the
# repository's with its root (ARCHITECTURE.md, Modules): the packaging tests
# (nfpm, the PromQL parser, the recording schema's validator), the system
# test, and the dashboard's PromQL reader both use.
TOOL      := $(GO) tool -modfile=$(CURDIR)/internal/tools/go.mod
TEST_MODULES := packaging internal/dashboard systemd/systemtest
# Recipes run in bash with pipefail, so a failing command piped into a
# filter (make bench's grep) still fails the target.
SHELL       := /bin/bash
.SHELLFLAGS := -o pipefail -c

# The version and commit stamped into the binary (tcp-advisor --version),
# and the commit's date, which dates the man page. The version comes from
# the release tags (vX.Y.Z) through packaging/version.sh: 0.2.0 on the tag
# v0.2.0, 0.2.0+3.gabc1234 three commits later, +dirty with uncommitted
# changes. `make build` and `make package` stamp the same one, so the
# binary and its packages agree; `make package VERSION=1.2.3` overrides it.
ifeq ($(origin VERSION),undefined)
VERSION := $(shell packaging/version.sh 2>/dev/null || echo 0.0.0+unknown)
endif
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null)
DATE    ?= $(shell git log -1 --format=%cs 2>/dev/null)
LDFLAGS  = -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: all build deps test unit kernel-events-refused policy-test policy-test-update policy-recordings docs fuzz lint bench soak clean

all: build

# build writes the binary and, next to it, the man page and shell
# completions the binary generates from its own command table (the source
# of --help too): tcp-advisor.8.gz, tcp-advisor.bash, _tcp-advisor.
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/tcp-advisor
	packaging/gen-docs.sh $(BIN) $(dir $(BIN))

# test runs everything: unit tests, kernel tests in scratch network namespaces
# (as root), system tests in a systemd-nspawn container, the default
# policies' tests against their recordings, and a short fuzz of each parser.
# The kernel tests that start tcp-advisor run twice: in unit with the
# kernel's connection events, then in kernel-events-refused without them.
# Under CI=true nothing may skip for lack of root or tools.
test: deps build lint bpf unit kernel-events-refused policy-test fuzz

# policy-test runs the default policies' tests (policies/*.hcltest) with the
# binary just built, as an operator runs a site's.
policy-test: build
	$(BIN) test policies/

# docs rewrites the Markdown tables generated from the code (between
# <!-- NAME --> lines: policy variables, JSON keys, metrics, sysctl
# registry); the same tests fail when they are stale.
docs:
	TCP_ADVISOR_UPDATE_DOCS=1 $(GO) test -count=1 -run 'TestReadme' ./policies/ ./advisor/... ./cmd/internal/report/

# policy-test-update rewrites the expect blocks of the default policies'
# tests to the outcome the policies reach now, after a deliberate change of
# outcome: review the diff before committing it.
policy-test-update: build
	$(BIN) test --update policies/

# policy-recordings records again, as root, the kernel scenarios the default
# policies' tests replay (policies/testdata/recordings); then
# `make policy-test-update` brings the expectations in line.
policy-recordings:
	CI=true TCP_ADVISOR_RECORD_SCENARIOS=$(CURDIR)/policies/testdata/recordings $(GO) test -count=1 -timeout 10m \
		-run 'TestKernel(NginxWithoutKeepalive|PythonLeak|FinWait2TowardsAPeerThatNeverCloses|ReuseOnLoopbackNeedsNothing|PlateauNeverWidened)$$' ./cmd/tcp-advisor/

# deps installs the Debian packages the kernel and system tests use, when
# missing: ip (iproute2), ss, sysctl (procps), unshare, nsenter and setpriv
# (util-linux), systemd-nspawn (systemd-container), promtool (prometheus:
# metrics lint, alert rules and dashboard queries), curl (scrapes the
# metrics endpoint), ansible-playbook (ansible-core) and its apt module's
# python3-apt (the Ansible role, run in the system test's container), nginx
# (a real proxy without upstream keepalive), python3 (a leaking service),
# groff (groff-base, to lint the man page), man (man-db, to find it once
# installed), zsh (to check the zsh completion), git (lint and fuzz list
# the repository's files with git ls-files), and clang, llvm (llvm-strip),
# libbpf-dev (bpf_helpers.h) and bpftool, which rebuild and inspect the
# connection-events program (make bpf). A package counts only when
# installed: one removed with its configuration kept (config-files) is known
# to dpkg but missing.
DEB_DEPS := git iproute2 procps util-linux systemd-container prometheus curl ansible-core python3-apt nginx python3 groff-base man-db zsh clang llvm libbpf-dev bpftool
deps:
	@missing=$$(for p in $(DEB_DEPS); do \
		[ "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" = "install ok installed" ] || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# bpf recompiles the connection-events program with clang (go generate,
# bpf2go pinned in go.mod) and fails when the object or its Go bindings
# differ from the committed ones: a plain go build needs no C compiler, and
# what it embeds is what the source says. bpf2go's flags are fixed and it
# maps the source directory to a relative path, so the output does not
# depend on where the checkout lies.
BPF_DIR := advisor/observe/connevents
.PHONY: bpf
bpf:
	cd $(BPF_DIR) && $(GO) generate
	@git diff --exit-code --stat -- $(BPF_DIR) || { echo "bpf: the committed eBPF objects differ from what $(BPF_DIR)/bpf/connevents.c compiles to: commit the regenerated ones" >&2; exit 1; }

# unit runs the root module's tests and, beside them (go test runs the
# root's packages side by side the same way), the system test's module,
# whose output follows the root's; then the other test modules. Every
# module runs even when one fails; unit fails if any did.
SYSTEM_TEST_MODULE := systemd/systemtest
unit:
	@set -e; sys=$$(mktemp); rc=0; \
	echo "cd $(SYSTEM_TEST_MODULE) && $(GO) test -count=1 -timeout 40m ./...  (beside the root module's tests)"; \
	(cd $(SYSTEM_TEST_MODULE) && $(GO) test -count=1 -timeout 40m ./...) >$$sys 2>&1 & pid=$$!; \
	echo "$(GO) test -count=1 -timeout 40m $(PKGS)"; \
	$(GO) test -count=1 -timeout 40m $(PKGS) || rc=$$?; \
	wait $$pid || rc=$$?; cat $$sys; rm -f $$sys; \
	for m in $(filter-out $(SYSTEM_TEST_MODULE),$(TEST_MODULES)); do \
		echo "cd $$m && $(GO) test -count=1 -timeout 40m ./..."; \
		(cd $$m && $(GO) test -count=1 -timeout 40m ./...) || rc=$$?; \
	done; \
	exit $$rc

# kernel-events-refused runs the kernel tests that start tcp-advisor (the
# TestKernel* of cmd/tcp-advisor, and the packaging's first scrape) again
# with the connection-events program refused, the path where BTF, the
# capabilities or the kernel's lockdown say no: everything works as without
# the events and says why (internal/testbin: Advisor, AdvisorEntering). The
# tests whose assertions rest on the events assert what tcp-advisor
# promises without them instead. tcp-advisor runs without CAP_BPF,
# CAP_PERFMON and CAP_SYS_ADMIN (setpriv), or, where it enters other
# namespaces, which needs CAP_SYS_ADMIN, with bpf(2) refused by seccomp
# (internal/cmd/nobpf). Two tests are not repeated, to keep the pass near
# 5 minutes on two cores: TestKernelSIGKILLDuringEnforce (50 kills, 30 s)
# and TestKernelConcurrentWritersLoseNothing (12 s) check the state file
# under kills and concurrent writers, which read no observation the events
# change; they pass refused too. The other packages' kernel tests do not
# start tcp-advisor.
REFUSED_SKIP := ^TestKernel(SIGKILLDuringEnforce|ConcurrentWritersLoseNothing)$$
kernel-events-refused:
	TCP_ADVISOR_TEST_KERNEL_EVENTS=refused $(GO) test -count=1 -timeout 20m -run '^TestKernel' -skip '$(REFUSED_SKIP)' ./cmd/tcp-advisor/
	cd packaging && TCP_ADVISOR_TEST_KERNEL_EVENTS=refused $(GO) test -count=1 -run '^TestKernel' ./...

# Each fuzz target runs for FUZZTIME; `go test -fuzz` takes one target at a time.
# Finding no fuzz targets (no git, or not a checkout) fails rather than
# fuzzing nothing.
fuzz:
	@set -e; targets=$$(git ls-files '*_test.go' | xargs -r grep -l '^func Fuzz' || true); \
	if [ -z "$$targets" ]; then echo "fuzz: no fuzz targets found (git ls-files needs git and a checkout)" >&2; exit 1; fi; \
	for f in $$targets; do \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$f); do \
			echo "fuzz ./$$(dirname $$f) $$name"; \
			$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

# gofmt -l with no files reads standard input, so an empty list of Go files
# (no git, or not a checkout) fails rather than passing. internal/soak builds
# only with -tags soak, which ./... leaves out: it is vetted on its own.
# ./... stops at a nested go.mod: each test module is vetted and
# staticchecked in its own directory.
lint: vulncheck
	@files=$$(git ls-files '*.go'); \
	if [ -z "$$files" ]; then echo "lint: git ls-files lists no Go files (needs git and a checkout)" >&2; exit 1; fi; \
	out=$$(gofmt -l $$files); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(TOOL) staticcheck $(PKGS)
	$(GO) vet -tags soak ./internal/soak/
	$(TOOL) staticcheck -tags soak ./internal/soak/
	@set -e; for m in $(TEST_MODULES); do \
		echo "cd $$m && $(GO) vet ./... && $(TOOL) staticcheck ./..."; \
		(cd $$m && $(GO) vet ./... && $(TOOL) staticcheck ./...); \
	done

# vulncheck runs govulncheck (a go tool, pinned in internal/tools/go.mod) against the Go
# vulnerability database as the golang.org/x/vulndb module carries it: the
# module proxy serves it where vuln.go.dev may be out of reach. Its OSV
# files are indexed once per VULNDB_VERSION into bin/ with vulndb's own
# indexdb command. Bump VULNDB_VERSION (a vulndb pseudo-version) to take
# newer advisories; `make vulncheck VULNDB=https://vuln.go.dev` uses the
# online database instead. Any called vulnerability fails the build. It
# checks the root module, what the binary links: the test modules ship
# nothing.
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
VULNDB_DIR     := bin/vulndb-$(VULNDB_VERSION)
VULNDB         ?= file://$(CURDIR)/$(VULNDB_DIR)
.PHONY: vulncheck
vulncheck:
	@if [ "$(VULNDB)" = "file://$(CURDIR)/$(VULNDB_DIR)" ] && [ ! -f $(VULNDB_DIR)/index/db.json ]; then \
		set -e; src=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$$/\1/p'); \
		echo "indexing $$src/data/osv into $(VULNDB_DIR)"; \
		rm -rf $(VULNDB_DIR).tmp; \
		$(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns $$src/data/osv -out $(VULNDB_DIR).tmp; \
		mv $(VULNDB_DIR).tmp $(VULNDB_DIR); \
	fi
	$(TOOL) govulncheck -db $(VULNDB) $(PKGS)

# bench needs root: the quiet tick runs in a fresh network namespace, the
# 150,000-socket comparison with ss in a scratch one it makes and removes, the
# ticks across many namespaces in 110 scratch ones, from the host, and
# diagnose --all-namespaces beside 50 and 100 scratch ones, with a /proc and
# /run/netns of their own so that only the benchmark's namespaces and the
# host's are seen, not those other work on the machine leaves. The rules'
# question to a quiet namespace needs no kernel. The connection-events
# program's cost is measured under a loopback load in a scratch namespace.
bench: build
	unshare --net sh -c 'ip link set lo up && TCP_ADVISOR_BENCH_NETNS=1 $(GO) test -count=1 -run "^$$" -bench QuietTick -benchtime 2000x ./advisor/observe/'
	$(GO) test -count=1 -run '^$$' -bench Namespaces -benchtime 20x ./advisor/netns/
	$(GO) test -count=1 -run '^$$' -bench RulesAsk -benchtime 2000x ./policies/judge/
	$(GO) test -count=1 -run '^$$' -bench DiagnoseVersus -benchtime 1x -timeout 30m -v ./internal/bench/ | grep -v '^=== RUN'
	unshare --mount --pid --fork --mount-proc sh -c 'mkdir -p /run/netns && mount -t tmpfs tcp-advisor-bench /run/netns && \
	  $(GO) test -count=1 -run "^$$" -bench AllNamespaces -benchtime 1x -timeout 30m -v ./internal/bench/' | grep -v '^=== RUN'
	$(GO) test -count=1 -run '^$$' -bench ConnectEvents -benchtime 1x -v ./internal/bench/ | grep -v '^=== RUN'

# soak (root, minutes; not part of test) runs the agent enforcing every
# second for SOAK_DURATION (default 10m) under sustained churn in a scratch
# namespace, and reports tick durations, CPU per tick, RSS and goroutines.
SOAK_DURATION ?= 10m
soak: build
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -run TestSoak -timeout 60m -v ./internal/soak/

clean:
	rm -rf bin dist

# package builds dist/*.deb and dist/*.rpm from packaging/nfpm.yaml with nfpm,
# pinned in internal/tools/go.mod as a tool, at VERSION (above), the binary's version too.
.PHONY: package
package: build
	@mkdir -p dist
	@set -e; for fmt in deb rpm; do \
		TCP_ADVISOR_VERSION="$(VERSION)" TCP_ADVISOR_ARCH="$$($(GO) env GOARCH)" \
			$(TOOL) nfpm package --config packaging/nfpm.yaml --packager $$fmt --target dist/; \
	done
