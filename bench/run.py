"""`make bench`: every benchmark in one run, printed side by side with ratios.

The machine is shared and noisy, so figures from one run are compared with each other only.
Writes bench/results.json and prints a Markdown table for the README.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def criterion_ns(group: str, name: str) -> float:
    path = ROOT / "target" / "criterion" / group / name / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]


def run_json(*cmd: str) -> dict[str, float]:
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    subprocess.run(
        ["cargo", "bench", "-p", "keel", "--bench", "ffi_floor", "--", "--noplot", "--warm-up-time", "1",
         "--measurement-time", "3"],
        cwd=ROOT,
        check=True,
    )
    rust = {name: criterion_ns("ffi_floor", name) for name in ("noop", "roundtrip")}
    python = run_json(sys.executable, "bench/ffi_floor.py")
    node = run_json("node", "bench/ffi_floor.mjs")
    results = {"ffi_floor": {"rust": rust, "python": python, "node": node}}
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    print("\n## FFI floor (ns per call, one run)\n")
    print("| call | Rust | Python (PyO3) | Node (napi) | Python / Rust | Node / Rust | pure Python | pure JS |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("noop", "roundtrip"):
        r, p, n = rust[name], python[name], node[name]
        print(
            f"| {name} | {r:.1f} | {p:.1f} | {n:.1f} | {p / r:.0f}x | {n / r:.0f}x "
            f"| {python['pure_' + name]:.1f} | {node['pure_' + name]:.1f} |"
        )


if __name__ == "__main__":
    main()
