#!/usr/bin/env bash
# One version everywhere: the workspace Cargo.toml is the source; the Python wheel takes it
# through maturin (dynamic version); package.json must say the same.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo_version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -n 1)"
node_version="$(node -p "require('$root/bindings-node/package.json').version")"
grep -q 'dynamic = \["version"\]' "$root/bindings-python/pyproject.toml" \
    || { echo "pyproject.toml must take its version from Cargo (dynamic = [\"version\"])" >&2; exit 1; }
for crate in core bindings-python bindings-node bindings-uniffi cli; do
    grep -q '^version.workspace = true' "$root/$crate/Cargo.toml" \
        || { echo "$crate/Cargo.toml must use version.workspace = true" >&2; exit 1; }
done
# The Kotlin artifact: the first <version> of its pom, the project's own.
kotlin_version="$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' "$root/bindings-uniffi/kotlin/pom.xml" | head -n 1)"
if [ "$cargo_version" != "$kotlin_version" ]; then
    echo "version mismatch: Cargo.toml $cargo_version, bindings-uniffi/kotlin/pom.xml $kotlin_version" >&2
    exit 1
fi
if [ "$cargo_version" != "$node_version" ]; then
    echo "version mismatch: Cargo.toml $cargo_version, bindings-node/package.json $node_version" >&2
    exit 1
fi
echo "version $cargo_version everywhere"
