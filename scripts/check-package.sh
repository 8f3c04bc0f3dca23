#!/usr/bin/env bash
# The published crate and the Python sdist carry the migrations: `migrations/` stays at the top
# level and `core/migrations` is a symlink to it, which `cargo package` and maturin follow.
# Checks that `cargo package -p keelcore --list` names every migration, then builds the sdist,
# installs it in a fresh venv and runs the Python quickstart with it; then builds the wheel to
# distribute (`make wheel`: manylinux2014 per auditwheel) and runs the quickstart with that.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
listed="$(cargo package -p keelcore --list --allow-dirty)"
count=0
for file in migrations/postgres/*.sql migrations/sqlite/*.sql; do
    grep -qx "$file" <<<"$listed" || { echo "cargo package -p keelcore does not carry $file" >&2; exit 1; }
    count=$((count + 1))
done
echo "cargo package -p keelcore carries all $count migrations"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd bindings-python && "$root/.venv/bin/python" -m maturin sdist -o "$work/dist" >/dev/null 2>&1)
sdist="$(ls "$work"/dist/keelcore-*.tar.gz)"
contents="$(tar tzf "$sdist")"
for file in migrations/postgres/*.sql migrations/sqlite/*.sql; do
    grep -q "/core/$file\$" <<<"$contents" || { echo "the sdist does not carry $file" >&2; exit 1; }
done
python3 -m venv "$work/venv"
# The registry crates are reused from target/; keel itself builds from the sdist's sources.
CARGO_TARGET_DIR="$root/target/sdist" "$work/venv/bin/pip" install -q "$sdist"
(cd "$work" && "$work/venv/bin/python" "$root/examples/python/quickstart.py")
echo "the sdist installs in a fresh venv and runs the quickstart"

# The wheel to distribute: manylinux2014 per auditwheel, and it runs the quickstart.
make -C "$root" --no-print-directory wheel
python3 -m venv "$work/wheel-venv"
"$work/wheel-venv/bin/pip" install -q "$root"/target/dist/keelcore-*.whl
(cd "$work" && "$work/wheel-venv/bin/python" "$root/examples/python/quickstart.py")
echo "the manylinux2014 wheel installs in a fresh venv and runs the quickstart"
