# wxcentral — build, test and run.
#
#   make run     the local stack (dynalite + WeChat simulator + all handlers)
#   make test    every test, including those against dynalite
#   make build   bin/{refresh,token,callback}/bootstrap for Lambda (ARCH=arm64 default)

SHELL      := /bin/bash
GO         ?= go
ARCH       ?= arm64
FUNCTIONS  := refresh token callback
DYNALITE   := tools/dynalite/node_modules/.bin/dynalite
GOFLAGS_LAMBDA := CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH)
# nethttpomithttp2: every API the functions call (DynamoDB, Lambda, Secrets
# Manager, EventBridge, WeChat) speaks HTTP/1.1; leaving net/http's HTTP/2
# out saves ~400 KB per binary.
BUILD_TAGS := lambda.norpc,nethttpomithttp2
BUILD_FLAGS := -trimpath -ldflags "-s -w" -tags $(BUILD_TAGS)

.PHONY: all build test test-short lint bench run tools chaos fuzz clean \
        build-RefreshFunction build-TokenFunction build-CallbackFunction

all: build

# --- tools -----------------------------------------------------------------

# dynalite (a DynamoDB-compatible server) pinned by tools/dynalite/package-lock.json.
tools: $(DYNALITE)

$(DYNALITE): tools/dynalite/package.json tools/dynalite/package-lock.json
	cd tools/dynalite && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# --- build -----------------------------------------------------------------

build: $(addprefix bin/,$(addsuffix /bootstrap,$(FUNCTIONS)))
	@for f in $(FUNCTIONS); do printf '%-10s %8d bytes  bin/%s/bootstrap\n' $$f $$(stat -c %s bin/$$f/bootstrap) $$f; done

bin/%/bootstrap: FORCE
	$(GOFLAGS_LAMBDA) $(GO) build $(BUILD_FLAGS) -o $@ ./functions/$*

FORCE:

# SAM's makefile build method calls build-<LogicalId> with ARTIFACTS_DIR set.
build-RefreshFunction:
	$(GOFLAGS_LAMBDA) $(GO) build $(BUILD_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/refresh
build-TokenFunction:
	$(GOFLAGS_LAMBDA) $(GO) build $(BUILD_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/token
build-CallbackFunction:
	$(GOFLAGS_LAMBDA) $(GO) build $(BUILD_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/callback

# --- test ------------------------------------------------------------------

# Tests that run the real bootstrap binaries build them for this machine.
# Every line any test writes (passed or failed) goes through the log audit,
# which fails the run on anything shaped like a token or a sample secret.
test: tools
	$(MAKE) build ARCH=$$($(GO) env GOARCH)
	$(GO) vet ./...
	set -o pipefail; $(GO) test -count=1 -timeout 15m -json ./... | $(GO) run ./internal/logaudit/cmd/testlogaudit

test-short: tools
	$(GO) test -short -count=1 ./...

# cfn-lint (pip install cfn-lint; it brings the SAM translator) checks the
# template in every region issue 13 deploys to; the Go test
# TestEveryParameterCombination also lints each parameter combination.
CFN_LINT_REGIONS := us-east-1 ap-east-1 ap-southeast-1 cn-north-1 cn-northwest-1

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	@if command -v cfn-lint >/dev/null; then \
	  echo "cfn-lint --regions $(CFN_LINT_REGIONS) -- template.yaml"; \
	  cfn-lint --regions $(CFN_LINT_REGIONS) -- template.yaml; \
	elif [ -n "$$CI" ]; then echo "cfn-lint not found (pip install cfn-lint); required when CI is set"; exit 1; \
	else echo "cfn-lint not found (pip install cfn-lint): template.yaml not linted"; fi

# Sizes are of the deployed artifact (make build: linux/$(ARCH)); the
# binaries run under the test Runtime API are built for this machine.
bench: tools
	$(MAKE) build
	$(GO) run ./cmd/benchreport

# The reliability proof (issue 6): 24 simulated hours of WeChat, DynamoDB,
# EventBridge and caller faults on loopback; prints the report and fails
# when a bound fails. `make test` runs a 4-hour version of the same test.
# Every fuzz target, one at a time, FUZZTIME each (seed corpora live in
# each package's testdata/fuzz and also run in make test).
FUZZTIME ?= 60s
FUZZ_TARGETS := pkg/callback:FuzzDecrypt pkg/callback:FuzzParseMessage pkg/callback:FuzzParseJSON pkg/callback/internal/xmlscan:FuzzXMLDifferential \
        pkg/callback:FuzzHandler pkg/config:FuzzParseApps pkg/config:FuzzParseCallbackConfig \
        pkg/tokenserver:FuzzInvoke pkg/tokenserver:FuzzServeHTTP pkg/wechat/wechattest:FuzzHandler
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} $${t##*:} ($(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}; \
	done

chaos: tools
	$(GO) test -count=1 -run '^TestChaos$$' -v -timeout 15m ./internal/chaos -args -chaos.hours=24

# The local stack. bin/wxcentral is also the operator CLI (status, token,
# refresh, send); exec makes Ctrl-C reach it directly.
run:
	@$(MAKE) --no-print-directory -j2 tools bin/wxcentral
	exec bin/wxcentral dev

bin/wxcentral: FORCE
	$(GO) build -o $@ ./cmd/wxcentral

clean:
	rm -rf bin
