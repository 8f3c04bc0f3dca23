"""Fills tiktoken's cache directory from the vocabularies the `tiktoken-rs` crate ships.

Python's `tiktoken` downloads its vocabularies at first use; this machine cannot reach that
host. The cache holds each file under the SHA-1 of its download URL (tiktoken checks the
content's SHA-256 itself). Usage: `python scripts/tiktoken_cache.py DIR`, then run with
`TIKTOKEN_CACHE_DIR=DIR`. Needs `cargo fetch` to have brought the crate into the registry.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import sys

URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def main() -> None:
    target = pathlib.Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    registry = pathlib.Path.home() / ".cargo" / "registry" / "src"
    assets = sorted(registry.glob("*/tiktoken-rs-*/assets"))
    if not assets:
        sys.exit("tiktoken-rs is not in the cargo registry: run `cargo fetch` first")
    for name in ("o200k_base", "cl100k_base"):
        key = hashlib.sha1(URL.format(name).encode()).hexdigest()
        shutil.copyfile(assets[-1] / f"{name}.tiktoken", target / key)


if __name__ == "__main__":
    main()
