# tsnix: `make` builds everything, `make test` runs every test.
CC ?= cc
CFLAGS ?= -O2 -g
HELPER_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE
HELPER_SRC = $(wildcard helper-c/*.c)
HELPER_HDR = $(wildcard helper-c/*.h)
TS_SRC = $(shell find src test bench examples -name '*.ts' 2>/dev/null)

.PHONY: all test build clean bench bench-build bench-substitute bench-gc bench-daemon bench-remote demo

all: build

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

dist/.stamp: node_modules/.package-lock.json tsconfig.json $(TS_SRC)
	npx tsc -p .
	rm -rf dist/bundle
	npx esbuild dist/src/cli/main.js dist/src/cli/daemonMain.js --bundle --splitting --platform=node --format=esm --packages=external --log-level=warning --outdir=dist/bundle
	@touch $@

helper-c/tsnix-helper: $(HELPER_SRC) $(HELPER_HDR)
	@if [ -n "$(HELPER_SRC)" ]; then $(CC) $(HELPER_CFLAGS) -o $@ $(HELPER_SRC); else echo "no helper sources yet"; fi

# Node-API addons for the socket options and file calls Node lacks, against the running node's headers.
NODE_INCLUDE = $(shell node -p "require('path').resolve(process.execPath, '../../include/node')")
ADDON_CFLAGS = $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -shared -fPIC -I$(NODE_INCLUDE)
addon-c/socket-options.node: addon-c/socketOptions.c
	$(CC) $(ADDON_CFLAGS) -o $@ $<
addon-c/file-io.node: addon-c/fileIo.c
	$(CC) $(ADDON_CFLAGS) -o $@ $<

build: dist/.stamp $(if $(HELPER_SRC),helper-c/tsnix-helper) addon-c/socket-options.node addon-c/file-io.node

# The tests make many stores and scratch directories (gigabytes in all): they get a TMPDIR of
# their own, mode 1777 like /tmp (build users and unprivileged clients write there too),
# removed when mocha ends or is interrupted; the exit status is mocha's.
test: build
	@dir=$$(mktemp -d /tmp/tsnix-tests.XXXXXX) && chmod 1777 "$$dir" || exit 1; \
	trap 'chmod -R u+w "$$dir" 2>/dev/null; rm -rf "$$dir" || echo "warning: could not remove all of $$dir"' EXIT; \
	trap 'exit 130' INT TERM; \
	TMPDIR="$$dir" npx mocha

# The main job: build the example graph (examples/) in a store under your home and show the results.
demo: build
	node dist/examples/demo.js $(DEMO_ARGS)

bench: build
	node dist/bench/store.js

bench-substitute: build
	node dist/bench/substitute.js $(BENCH_ARGS)

bench-daemon: build
	node dist/bench/daemon.js $(BENCH_ARGS)

bench-gc: build
	node dist/bench/gc.js $(BENCH_ARGS)

bench-remote: build
	node dist/bench/remote.js $(BENCH_ARGS)

bench-build: build
	node dist/bench/build.js $(BENCH_ARGS)

clean:
	rm -rf dist helper-c/tsnix-helper addon-c/socket-options.node addon-c/file-io.node
