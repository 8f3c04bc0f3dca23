"""Runs every Python, TypeScript and Rust code block of the READMEs as printed.

Python blocks run as scripts; TypeScript blocks compile with `tsc --strict` (ES modules, against
the package as installed in examples/node) and then run in Node; Rust blocks run as examples of
the crate, inside `#[tokio::main] async fn main()` unless they declare a `main`. Every block runs
from the repository root and must exit 0, so a README that drifts from the API fails `make test`.
Needs the built bindings (`make build`) and examples/node's node_modules.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
READMES = ["README.md", "bindings-python/README.md", "bindings-node/README.md"]
BLOCK = re.compile(r"^```(python|ts|rust)\n(.*?)^```", re.S | re.M)
TS_WORK = ROOT / "examples/node/.readme"
RUST_WORK = ROOT / "core/examples"
TSC = ROOT / "bindings-node/node_modules/.bin/tsc"
TSCONFIG = """{
  "compilerOptions": {
    "strict": true, "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext",
    "lib": ["ES2022", "DOM", "esnext.disposable"], "types": [], "skipLibCheck": false,
    "outDir": "out"
  },
  "include": ["*.mts"]
}
"""
RUST_MAIN = """#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {{
{body}
    Ok(())
}}
"""


def blocks() -> list[tuple[str, int, str, str]]:
    """(readme, line, language, code) for every runnable block."""
    found = []
    for readme in READMES:
        text = (ROOT / readme).read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((readme, line, match.group(1), match.group(2)))
    return found


def run(what: str, cmd: list[str], cwd: pathlib.Path = ROOT) -> None:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"{what} failed ({' '.join(cmd)}):\n{done.stdout}{done.stderr}")
    print(f"ok  {what} ({time.monotonic() - started:.1f} s)")


def main() -> None:
    found = blocks()
    assert len(found) >= 8, f"expected the READMEs' code blocks, found {len(found)}"
    shutil.rmtree(TS_WORK, ignore_errors=True)
    TS_WORK.mkdir(parents=True)
    (TS_WORK / "tsconfig.json").write_text(TSCONFIG)
    (TS_WORK / "package.json").write_text('{ "type": "module" }\n')
    RUST_WORK.mkdir(exist_ok=True)
    typescript: list[tuple[str, str]] = []
    rust: list[tuple[str, str]] = []
    for readme, line, language, code in found:
        what = f"{readme}:{line} ({language})"
        name = f"readme_{pathlib.Path(readme).parent.name or 'root'}_{line}".replace("-", "_")
        if language == "python":
            run(what, [sys.executable, "-c", code])
        elif language == "ts":
            (TS_WORK / f"{name}.mts").write_text(code)
            typescript.append((what, name))
        else:
            body = code if "fn main" in code else RUST_MAIN.format(body=code)
            (RUST_WORK / f"{name}.rs").write_text(body)
            rust.append((what, name))
    run("tsc --strict on the TypeScript blocks", [str(TSC), "-p", "tsconfig.json"], cwd=TS_WORK)
    for what, name in typescript:
        run(what, ["node", str(TS_WORK / "out" / f"{name}.mjs")])
    for what, name in rust:
        run(what, ["cargo", "run", "-q", "-p", "keelcore", "--example", name])
    print(f"{len(found)} README code blocks ran as printed")


if __name__ == "__main__":
    try:
        main()
    finally:
        for stale in RUST_WORK.glob("readme_*.rs"):
            stale.unlink()
