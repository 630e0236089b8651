"""docs/tutorial.ipynb is executed here, so it can't rot."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

import kmeans_compress  # noqa: E402
from kmeans_compress import compress, sample_image_path  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
SECTIONS = ["1.", "1.1", "1.2", "2.", "3.", "4.", "4.1", "4.2", "4.3"]


def _headings(nb) -> list[str]:
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += re.findall(r"^#{2,3} (\d+\.\d*)", cell.source, flags=re.M)
    return found


def _images(nb) -> list[str]:
    return [
        o["data"]["image/png"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]


def test_notebook_is_stored_with_its_outputs_small_and_follows_the_tutorial():
    """Stored executed (`make notebook`), so a reader browsing it sees the figures: every code
    cell run once, in order, without errors, with its figures, and nothing that changes from
    one run or machine to the next (timings, absolute paths)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert NOTEBOOK.stat().st_size < 1_000_000
    assert _headings(nb) == SECTIONS
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    for cell in code:
        assert not [o for o in cell.outputs if o.output_type == "error"]
        assert "execution" not in cell.metadata  # nbclient's per-cell timestamps
    assert len(_images(nb)) >= 7
    # no absolute path of the machine it was written on, no timing (images left out: base64 has "/")
    for cell in code:
        for o in cell.outputs:
            o.get("data", {}).pop("image/png", None)
    text = json.dumps(nb, indent=1)
    assert not re.search(r"/(?:home|root|work|tmp|Users)/|[A-Z]:\\\\", text)
    assert not re.search(r"\d s\b|seconds|elapsed|[Ww]all time", text)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("notebook")
    mp = pytest.MonkeyPatch()
    # Keep the kernel away from the user's IPython profile and Jupyter folders, so that
    # "python3" is this environment's ipykernel, not a kernel the user installed elsewhere.
    mp.setenv("IPYTHONDIR", str(tmp / "ipython"))
    mp.setenv("JUPYTER_RUNTIME_DIR", str(tmp / "runtime"))
    mp.setenv("JUPYTER_DATA_DIR", str(tmp / "data"))
    # The kernel should draw inline, as in Jupyter, not with a test run's Agg setting.
    mp.delenv("MPLBACKEND", raising=False)
    # The kernel runs in tmp: it imports the package this test imports (a relative PYTHONPATH, or
    # none with another checkout installed, would give it another one).
    package_root = str(Path(kmeans_compress.__file__).resolve().parents[1])
    mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    try:
        nb = nbformat.read(NOTEBOOK, as_version=4)
        client = nbclient.NotebookClient(
            nb, timeout=120, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(tmp)}}
        )
        client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    finally:
        mp.undo()
    return nb


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_notebook_runs_and_draws(executed):
    # blobs, progress, restarts, the photo, RGB scatter, comparison, rate-distortion
    assert len(_images(executed)) >= 7
    for cell in executed.cells:
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"]


def test_storage_section_gives_the_tutorial_figures_and_the_real_bytes(executed):
    (cell,) = [c for c in executed.cells if "storage" in c.metadata.get("tags", [])]
    text = _stdout(cell)
    width, height, k = 451, 300, 16
    before = width * height * 24
    after = k * 24 + width * height * 4  # log2(16) = 4 bits per index
    assert f"{before:,} bits" in text
    assert f"{after:,} bits" in text
    real = len(compress(sample_image_path(), n_colors=k, random_state=0).to_png_bytes())
    assert f"real indexed PNG: {real:,} bytes" in text


def _text_outputs(nb) -> list[list[dict]]:
    """Every code cell's outputs without their images (which depend on the plotting libraries'
    versions): printed text and results' plain text, in order."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            outputs = copy.deepcopy(cell.outputs)
            for o in outputs:
                o.get("data", {}).pop("image/png", None)
                o.pop("metadata", None)
            found.append(outputs)
    return found


def test_stored_text_outputs_are_those_of_a_fresh_run(executed):
    """What the stored notebook shows is what its code prints today (a stale 51.5 where a run
    prints 51.46): after a change that moves a figure, `make notebook` stores the new outputs."""
    stored = nbformat.read(NOTEBOOK, as_version=4)
    assert _text_outputs(stored) == _text_outputs(executed)
