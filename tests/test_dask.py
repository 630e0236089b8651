"""The Dask backend: the same files, byte for byte, from a dask.distributed cluster."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _batch_folder import CORRUPT, make_folder, make_shared_palette_folder
from kmeans_compress import batch
from kmeans_compress.cli import main

distributed = pytest.importorskip("distributed")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos") / "in"
    good = make_folder(root, n_good=195, seed=7)
    ref = root.parent / "ref"
    assert main([str(root), "-r", "-o", str(ref), "-j", "1", "-q"]) == 1
    return root, good, ref


def test_cli_on_a_scheduler_address_gives_the_local_bytes(cluster, folder, tmp_path):
    src, good, ref = folder
    out = tmp_path / "out"
    rep = tmp_path / "r.json"
    rc = main([str(src), "-r", "-o", str(out), "--dask", cluster.scheduler_address, "--report", str(rep), "-q"])
    assert rc == 1
    rows = json.loads(rep.read_text())
    assert sum(r["status"] == "done" for r in rows) == len(good)
    assert sorted(Path(r["input_path"]).relative_to(src).as_posix() for r in rows if r["status"] == "failed") == sorted(
        CORRUPT
    )
    assert all(Path(r["output_path"]).is_file() for r in rows if r["status"] == "done")
    assert all(r["error"].startswith(str(src)) for r in rows if r["status"] == "failed")
    assert _tree(out) == _tree(ref)

    # resumed on the cluster: everything is up to date
    again = batch.run([src], out, recursive=True, dask=cluster.scheduler_address, progress=False, stream=io.StringIO())
    assert (again.done, again.skipped, again.failed) == (0, len(good), len(CORRUPT))


def test_client_object_and_shared_palette(cluster, folder, tmp_path):
    src, good, _ = folder
    files = [src / g for g in good[:16]]
    with distributed.Client(cluster) as client:
        remote = batch.shared_palette(files, n_colors=8, random_state=2, client=client)
        s = batch.run(
            files,
            tmp_path / "d",
            options={"n_colors": 8, "random_state": 2},
            shared=True,
            dask=client,
            progress=False,
            stream=io.StringIO(),
        )
        assert s.done == 16
        assert not client.status == "closed"  # a client passed in is left open
    local = batch.shared_palette(files, n_colors=8, random_state=2)
    assert (remote == local).all()
    batch.run(
        files,
        tmp_path / "l",
        options={"n_colors": 8, "random_state": 2},
        shared=True,
        jobs=1,
        progress=False,
        stream=io.StringIO(),
    )
    assert _tree(tmp_path / "d") == _tree(tmp_path / "l")


def test_shared_palette_leaves_out_files_that_cannot_share_it_as_the_local_run(cluster, tmp_path):
    src = tmp_path / "in"
    make_shared_palette_folder(src)
    runs = {}
    for name, extra in [("local", ["-j", "1"]), ("dask", ["--dask", cluster.scheduler_address])]:
        out, rep = tmp_path / name, tmp_path / f"{name}.json"
        argv = [str(src), "-o", str(out), "--shared-palette", "--max-pixels", "5000", "--report", str(rep), "-q"]
        assert main(argv + extra) == 1
        rows = json.loads(rep.read_text())
        rows = [
            (r["input_path"], Path(r["output_path"]).relative_to(out).as_posix(), r["status"], r["error"]) for r in rows
        ]
        runs[name] = (_tree(out), rows)
    assert sorted(runs["local"][0]) == ["a.kmc.png", "b.kmc.png"]
    assert runs["dask"] == runs["local"]  # the same bytes, and the same rows and reasons


@pytest.mark.parametrize(
    "address, reason",
    [
        ("nonsense", "missing port number in address 'nonsense'"),
        ("tcp://127.0.0.1", "missing port number in address '127.0.0.1'"),
        ("foo://x:1", "unknown address scheme 'foo'"),
        ("tls://127.0.0.1:1", "ssl_context"),  # a TypeError: TLS without a security context
    ],
)
def test_malformed_scheduler_address_is_one_line_and_exit_2(folder, tmp_path, capsys, address, reason):
    # distributed raises ValueError for an address it cannot parse: it came out as a traceback
    # and exit 1, after the output folder had been created.
    src, _, _ = folder
    out = tmp_path / "out"
    assert main([str(src), "-r", "-o", str(out), "--dask", address, "--report", str(out / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kmeans-compress: error: --dask {address}: not a scheduler address (")
    assert reason in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_ctrl_c_on_a_local_cluster_reports_every_file_written(folder, tmp_path):
    # Ctrl-C from a terminal reaches the whole process group: the local cluster's workers died
    # mid-file with distributed's tracebacks and warnings, and the files that finished after the
    # interrupt were written but missing from the report. Now only the command takes it: the files
    # in flight are finished and reported, and stderr has the one line.
    src, good, ref = folder
    out, rep = tmp_path / "out", tmp_path / "r.csv"
    cmd = [sys.executable, "-m", "kmeans_compress", str(src), "-r", "-o", str(out), "--dask", "local", "-j", "2"]
    proc = subprocess.Popen(
        [*cmd, "--report", str(rep), "-q"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), os.setpgrp()),  # as a terminal's job
    )
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.kmc.png"))) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)  # the command and the cluster's worker processes
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    rows = list(csv.DictReader(rep.open()))
    done = {r["output_path"] for r in rows if r["status"] == "done"}
    on_disk = {str(p) for p in out.rglob("*.kmc.png")}
    assert 20 <= len(on_disk) < len(good), "the run ended before it could be interrupted"
    assert on_disk == done  # every file written is in the report
    assert not [p for p in out.rglob("*") if p.is_file() and not p.name.endswith(".kmc.png")]  # no temporary file
    assert err == "kmeans-compress: error: interrupted; run the same command again to resume\n"
    assert main([*cmd[3:], "-q"]) == 1
    assert _tree(out) == _tree(ref)
