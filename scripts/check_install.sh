#!/usr/bin/env bash
# The package as a user installs it: build a wheel and an sdist, install the wheel
# into a new venv outside the repository, make the installed package's folder
# read-only (as a system-wide install is), and run `kmeans-compress demo` and one
# compression from a folder outside the repository, with an empty home.
#
# Checks: package data in the wheel and the sdist; the demo and the run succeed
# and write valid indexed PNGs; numba caches its compiled kernels in the user's
# cache folder (not in the read-only package), and a second run loads them.
#
# Usage: scripts/check_install.sh PYTHON DIST_DIR   (make check-install)
set -euo pipefail
python=${1:?python}
dist=${2:?dist folder with one wheel and one sdist}
wheel=$(ls "$dist"/kmeans_compress-*.whl)
sdist=$(ls "$dist"/kmeans_compress-*.tar.gz)

fail() { echo "check-install: FAILED: $*" >&2; exit 1; }

for f in kmeans_compress/data/chelsea.png kmeans_compress/data/LICENSE.txt kmeans_compress/py.typed; do
    "$python" -c "import sys, zipfile; sys.exit(0 if sys.argv[2] in zipfile.ZipFile(sys.argv[1]).namelist() else 1)" \
        "$wheel" "$f" || fail "$f missing from $(basename "$wheel")"
done
listing=$(tar -tzf "$sdist")  # (grep -q on a pipe would stop tar early: pipefail)
for f in src/kmeans_compress/data/chelsea.png tests/conftest.py tests/strategies.py Makefile scripts/smoke.py; do
    grep -qx ".*/$f" <<<"$listing" || fail "$f missing from the sdist"
done
echo "check-install: wheel $(du -k "$wheel" | cut -f1) kB, sdist $(du -k "$sdist" | cut -f1) kB, package data present"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kmc-install.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet "$wheel"
pkg=$("$tmp/venv/bin/python" -c "import kmeans_compress, os; print(os.path.dirname(kmeans_compress.__file__))")
find "$pkg" -name '*.nbi' | grep -q . && fail "the wheel ships numba cache files"

mkdir -p "$tmp/home" "$tmp/outside"
"$tmp/venv/bin/python" -c "from PIL import Image; from kmeans_compress import sample_image_path as s; \
Image.open(s()).convert('RGB').save('$tmp/outside/photo.jpg', quality=92)"

# Run as a user would, from a folder outside the repository, with a new empty home;
# the package's own folder read-only. As root, chmod does not stop writes: a
# read-only bind mount in a private mount namespace does (unshare, where allowed).
run_user() {
    (cd "$tmp/outside" && env -i PATH="$tmp/venv/bin:/usr/bin:/bin" HOME="$tmp/home" LANG=C.UTF-8 "$@")
}
if [ "$(id -u)" != 0 ]; then
    chmod -R a-w "$pkg"; how="chmod a-w"
    as_user() { run_user "$@"; }
elif mkdir -p "$tmp/probe" && unshare -rm sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && ! touch "$0/x"' \
        "$tmp/probe" 2>/dev/null; then
    how="read-only bind mount"
    as_user() {
        run_user unshare -rm sh -c 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"' \
            "$pkg" "$@"
    }
else
    how="writable (root without unshare: numba's own fallback is not exercised)"
    as_user() { run_user "$@"; }
fi
echo "check-install: installed package folder: $how"

t0=$(date +%s.%N)
as_user kmeans-compress demo >"$tmp/demo.out" 2>&1 || { cat "$tmp/demo.out"; fail "kmeans-compress demo"; }
t1=$(date +%s.%N)
# K = 256: enough work for a new process to load the compiled kernels (the demo's K = 16 runs on numpy).
as_user kmeans-compress photo.jpg -k 256 -o photo.png --json >"$tmp/run.json" 2>"$tmp/run.err" \
    || { cat "$tmp/run.err"; fail "kmeans-compress photo.jpg -k 256"; }
t2=$(date +%s.%N)
cat "$tmp/demo.out"

"$tmp/venv/bin/python" - "$tmp" <<'EOF' || fail "outputs"
import json, sys
from pathlib import Path
import numpy as np
from PIL import Image
tmp = Path(sys.argv[1])
for name, k in (("chelsea.kmc.png", 16), ("photo.png", 256)):
    im = Image.open(tmp / "outside" / name)
    assert im.mode == "P", f"{name}: mode {im.mode}"
    n = len(np.unique(np.asarray(im)))
    assert n == k, f"{name}: {n} colours, expected {k}"
report = json.loads((tmp / "run.json").read_text())[0]
a = np.asarray(Image.open(tmp / "outside" / "photo.jpg").convert("RGB"), dtype=float)
b = np.asarray(Image.open(tmp / "outside" / "photo.png").convert("RGB"), dtype=float)
mse = ((a - b) ** 2).mean()
assert abs(mse - report["mse"]) < 1e-6 * mse, (mse, report["mse"])
print(f"check-install: outputs decode: 16 and 256 colours, MSE {mse:.2f} as reported")
EOF

cached=$(find "$tmp/home/.cache" -name '*.nbi' 2>/dev/null | wc -l)
in_pkg=$(find "$pkg" -name '*.nbi' | wc -l)
[ "$cached" -gt 0 ] || fail "no compiled kernel cached in the user's cache folder"
if [ "$how" != "${how#writable}" ]; then :; else
    [ "$in_pkg" -eq 0 ] || fail "kernels cached inside the read-only package folder"
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$cached" -v m="$in_pkg" 'BEGIN { printf "check-install: demo %.1f s (on numpy: too little work to load the kernels), K = 256 run %.1f s (compiles them); %d kernel files cached in the user cache folder, %d in the package\n", b - a, c - b, n, m }'
echo "check-install: ok"
