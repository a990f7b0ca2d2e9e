# shopsync — make demo | test | bench | lint | fmt
# Without DATABASE_URL, scripts/with-pg.sh runs a throwaway PostgreSQL cluster for the command.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build test lint fmt fmt-check clippy code-shape demo bench clean deploy-check js-deps

all: build

build:
	$(CARGO) build --workspace --bins

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# No source file over 900 lines, no function over 150 (tables marked `// code-shape: table`).
code-shape:
	python3 scripts/code-shape.py

lint: fmt-check clippy code-shape

# Shopify's official JS client, for the test that runs it against shopify-sim.
js-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  [ -d tests/js/node_modules/@shopify/admin-api-client ] || npm ci --prefix tests/js --no-audit --no-fund; \
	else echo "npm not found: the official JS client test will be skipped"; fi

# fmt check, clippy -D warnings, then every test (unit, PostgreSQL, end-to-end).
test: lint build js-deps
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  PG_FAST=1 scripts/with-pg.sh $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  PG_FAST=1 scripts/with-pg.sh $(CARGO) test --workspace --no-fail-fast; \
	fi

# Simulated shop day end to end: services, entries, live runs, run log.
demo: build
	scripts/with-pg.sh scripts/demo.sh

# Release build; prints a table and writes bench/results/*.json.
# River's Rust CLI, for the side-by-side figure (installed once into target/river).
RIVER := target/river/bin/riverqueue
$(RIVER):
	$(CARGO) install riverqueue-cli --version 0.5.0 --locked --no-default-features --features postgres --root target/river \
	  || $(CARGO) install riverqueue-cli --version 0.5.0 --no-default-features --features postgres --root target/river

bench: $(RIVER)
	$(CARGO) build --release -p shopsync-bench -p shopsync-scheduler -p shopsync-order-sync -p shopsync-posting -p shopsync-inventory-sync
	RIVER_BIN=$(RIVER) scripts/with-pg.sh target/release/shopsync-bench $(BENCH_ARGS)

clean:
	$(CARGO) clean

# Render the kustomize overlays and validate them offline (kubectl + PyPI kubernetes-validate).
deploy-check:
	@command -v kubernetes-validate >/dev/null || python3 -m pip install -q kubernetes-validate
	for o in dev prod; do kubectl kustomize deploy/k8s/overlays/$$o > target/k8s-$$o.yaml && \
	  kubernetes-validate --strict --quiet target/k8s-$$o.yaml || exit 1; done
