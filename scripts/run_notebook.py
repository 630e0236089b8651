"""Re-execute docs/tutorial.ipynb and store it with its outputs, in place (``make notebook``).

The kernel runs in docs/, away from the user's IPython profile and Jupyter
kernels; no timings are recorded and the notebook's own metadata is kept, so an
unchanged notebook comes out byte-identical. It is written to a temporary file
beside the notebook and renamed, so a failing cell leaves the stored notebook as
it was.
"""

import copy
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat


def main() -> int:
    path = Path(__file__).resolve().parent.parent / "docs" / "tutorial.ipynb"
    os.environ.pop("MPLBACKEND", None)  # the notebook's inline backend, not Agg
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.update(
            {k: os.path.join(scratch, k) for k in ("IPYTHONDIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")}
        )
        nb = nbformat.read(path, as_version=4)
        meta = copy.deepcopy(nb.metadata)
        nbclient.NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
        nb.metadata = meta
        nbformat.validate(nb)
        fd, tmp = tempfile.mkstemp(prefix=".tutorial-", suffix=".ipynb", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        nbformat.write(nb, tmp)
        os.replace(tmp, path)
    print(f"{path.name}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
