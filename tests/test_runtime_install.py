"""What a runtime-only install (numpy, Pillow, numba: no SciPy) can do.

The test group brings scikit-learn and so SciPy into the test environment, which
once hid a kernel that needed SciPy to compile (numba's linear algebra loads
SciPy's BLAS): ``make demo`` crashed on every fresh install. These tests compile
every kernel from scratch in a child process where SciPy cannot be imported.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from kmeans_compress import _backend

pytestmark = pytest.mark.skipif(not _backend.HAVE_NUMBA, reason="numba not installed")

# Makes ``import scipy`` (and scikit-learn, which needs it) fail in the child.
_BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys
    class _Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("scipy", "sklearn"):
                raise ImportError(f"{name} blocked: not a runtime dependency")
    sys.meta_path.insert(0, _Block())
    """
)


def _run_without_scipy(code, tmp_path):
    env_code = _BLOCK + textwrap.dedent(code)
    import os

    # A fresh, empty kernel cache: every kernel is compiled in the child, as on a new machine.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    proc = subprocess.run([sys.executable, "-c", env_code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_every_kernel_compiles_and_a_photo_compresses_without_scipy(tmp_path):
    out = _run_without_scipy(
        f"""
        import json, sys
        from numba.core.registry import CPUDispatcher
        from kmeans_compress import _backend, compress, sample_image_path
        from kmeans_compress import _numba_kernels as k
        k.warm_up()
        kernels = {{n: f for n, f in vars(k).items() if isinstance(f, CPUDispatcher)}}
        # inline="always" helpers are compiled into their callers, not on their own
        missing = [n for n, f in kernels.items()
                   if f.targetoptions.get("inline") != "always" and not f.signatures]
        _backend.MIN_WORK = 0  # every stage of the image path compiled, whatever its size
        r = compress(sample_image_path(), n_colors=16, random_state=0)
        r.save({str(tmp_path / "out.png")!r})
        inline = [n for n, f in kernels.items() if f.targetoptions.get("inline") == "always"]
        print(json.dumps({{"kernels": sorted(kernels), "missing": missing, "colours": int(r.palette.shape[0]),
                          "scipy": "scipy" in sys.modules, "inline": inline}}))
        """,
        tmp_path,
    )
    report = json.loads(out.strip().splitlines()[-1])
    assert len(report["kernels"]) >= 10
    assert report["missing"] == [], f"warm_up() leaves these kernels uncompiled: {report['missing']}"
    assert report["scipy"] is False
    assert report["colours"] == 16 and (tmp_path / "out.png").stat().st_size > 0
    # Every kernel compiled on its own is cached: a kernel numba cannot cache (one that reads
    # numba.get_num_threads() inside, say) would be compiled again in every new process.
    compiled = set(report["kernels"]) - set(report["inline"])
    cached = {f.name.split(".")[1].split("-")[0] for f in (tmp_path / "numba-cache").rglob("*.nbi")}
    assert compiled <= cached, f"compiled but not cached: {sorted(compiled - cached)}"


def test_kernel_cache_falls_back_when_no_cache_folder_is_writable(tmp_path):
    # The installed package's folder read-only (as in a system-wide install) and the
    # user's cache folder impossible to create (a read-only home): numba alone would
    # refuse to define the cached kernels, and everything would run on numpy.
    import os

    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")
    code = textwrap.dedent(
        """
        import numba.core.caching as caching
        caching.InTreeCacheLocator.from_function = classmethod(lambda cls, func, path: None)
        import numpy as np
        from kmeans_compress import _backend
        real_import = _backend._import_kernels
        def import_only():  # compile one kernel below, not all of them (warm_up)
            module = real_import()
            module.warm_up = lambda: None
            return module
        _backend._import_kernels = import_only
        k = _backend._load()
        assert k is not None, "compiled kernels lost"
        X = np.array([[0.0, 0.0, 0.0], [5.0, 5.0, 5.0], [9.0, 9.0, 9.0]])
        labels = np.zeros(3, dtype=np.intp)
        C = X[[0, 2]].copy()
        k._nearest_hinted_kernel(X, C, labels, np.empty(3), False, *_backend.neighbour_table(C, False))
        print(labels.tolist())
        """
    )
    env = {key: v for key, v in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env.update(XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[0] == "[0, 1, 1]"
    cached = list(tmp_path.glob("kmeans-compress-numba-*/**/*.nbi"))
    assert cached, f"no kernel cached under the temporary folder: {sorted(p.name for p in tmp_path.iterdir())}"
