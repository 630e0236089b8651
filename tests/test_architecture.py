"""ARCHITECTURE.md's rules, checked on the source: who may import whom, and what ``import kmeans_compress`` loads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import kmeans_compress

PACKAGE = Path(kmeans_compress.__file__).parent
MODULES = sorted(p for p in PACKAGE.glob("*.py"))
FRONT_ENDS = {"cli", "batch", "plots", "_cli_common", "_cli_sweep", "_cli_pngquant", "_web", "__main__"}


def _imports(path: Path, top_level_only: bool) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) of every relative import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                if node.module is None:  # from . import x: x is a module
                    found.append((alias.name, None, node.lineno))
                else:
                    found.append((node.module, alias.name, node.lineno))
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_imports_another_modules_underscore_names(path):
    bad = [
        f"line {line}: from .{mod} import {name}"
        for mod, name, line in _imports(path, top_level_only=False)
        if name is not None and name.startswith("_") and not name.startswith("__")
    ]
    assert not bad, f"{path.name} reaches into private names: {bad}"


@pytest.mark.parametrize("path", [p for p in MODULES if p.stem not in FRONT_ENDS], ids=lambda p: p.name)
def test_stages_never_import_a_front_end_at_module_level(path):
    bad = [
        f"line {line}: .{mod}"
        for mod, name, line in _imports(path, top_level_only=True)
        if mod in FRONT_ENDS or name in FRONT_ENDS
    ]
    assert not bad, f"{path.name} imports a front end at import time: {bad}"


def test_every_public_name_is_exported_and_documented():
    for name in kmeans_compress.__all__:
        obj = getattr(kmeans_compress, name)
        if callable(obj) and isinstance(obj, type | type(len) | type(_imports)):  # classes and functions
            assert obj.__doc__, f"kmeans_compress.{name} has no docstring"
    assert callable(kmeans_compress.quantize), "kmeans_compress.quantize is the function, not a module"


def test_import_loads_numpy_and_pillow_only():
    """numba, SciPy, scikit-learn, matplotlib, Dask and OpenSSL are loaded on first use, never by the import."""
    code = "import sys, json, kmeans_compress; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    # _hashlib is OpenSSL (about 3 MB): only resumable outputs and shared palettes hash anything.
    heavy = {"numba", "scipy", "sklearn", "matplotlib", "dask", "distributed", "starlette", "uvicorn", "_hashlib"}
    assert not loaded & heavy, f"import kmeans_compress loaded {sorted(loaded & heavy)}"
