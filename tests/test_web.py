"""kmeans-compress serve: the web page's API, through Starlette's test client."""

import io
import shlex
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import kmeans_compress as kc  # noqa: E402
from kmeans_compress import _web  # noqa: E402
from kmeans_compress.cli import main  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def sample() -> bytes:
    return kc.sample_image_path().read_bytes()


@pytest.fixture(scope="module")
def small() -> bytes:
    rng = np.random.default_rng(0)
    return png_bytes(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def client():
    app = _web.create_app(max_upload_bytes=300_000, max_pixels=200_000)
    with TestClient(app) as c:
        yield c


def upload(c, data: bytes, name: str = "photo.png") -> dict:
    r = c.post(f"/api/images?name={name}", content=data)
    assert r.status_code == 200, r.text
    return r.json()


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/app.js">' in page.text
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    # nothing fetched from elsewhere: the page names no other host
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text


def test_happy_path_is_the_cli_file(client, sample, tmp_path):
    info = upload(client, sample, "chelsea.png")
    assert (info["width"], info["height"], info["input_bytes"]) == (451, 300, len(sample))
    r = client.post("/api/compress", json={"id": info["id"], "k": 8, "space": "lab", "dither": True, "seed": 3})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["command"] == "kmeans-compress chelsea.png -k 8 --space lab --dither --seed 3 -o chelsea.kmc.png"
    assert len(j["palette"]) == 8 and abs(sum(j["shares"]) - 1) < 1e-5
    assert j["shares"] == sorted(j["shares"], reverse=True)  # most frequent first, as the palette
    png = client.get(j["png_url"])
    assert png.headers["content-type"] == "image/png"
    assert "chelsea.kmc.png" in png.headers["content-disposition"]
    assert len(png.content) == j["report"]["output_bytes"]
    # the command line's file: same bytes
    (tmp_path / "chelsea.png").write_bytes(sample)
    cmd = [
        sys.executable,
        "-m",
        "kmeans_compress",
        "chelsea.png",
        "-k",
        "8",
        "--space",
        "lab",
        "--dither",
        "--seed",
        "3",
        "-o",
        "chelsea.kmc.png",
        "-q",
    ]
    subprocess.run(cmd, cwd=tmp_path, check=True)
    assert (tmp_path / "chelsea.kmc.png").read_bytes() == png.content
    heat = Image.open(io.BytesIO(client.get(j["heat_url"]).content))
    assert heat.size == (451, 300)


def test_same_upload_is_decoded_once(client, small):
    server = client.app.state.server
    a = upload(client, small, "a.png")
    n = len(server.images)
    b = upload(client, small, "b.png")
    assert a["id"] == b["id"] and len(server.images) == n and b["name"] == "b.png"


@pytest.mark.parametrize(
    "data, status, message",
    [
        (b"", 415, "x.png: the file is empty (0 bytes)"),
        (b"not an image at all", 415, "x.png: not an image file Pillow can read"),
        (kc.sample_image_path().read_bytes()[:2000], 415, "x.png: damaged or truncated image"),
        (png_bytes(np.zeros((500, 500), np.uint8)), 413, "250,000 pixels is more than the limit of 200,000"),
        (b"\x89PNG" + bytes(400_000), 413, "larger than the limit of 300,000 bytes"),
    ],
    ids=["empty", "not-an-image", "truncated", "too-many-pixels", "too-many-bytes"],
)
def test_bad_upload_gets_the_cli_line(client, data, status, message):
    r = client.post("/api/images?name=x.png", content=data)
    assert r.status_code == status
    err = r.json()["error"]
    assert err.startswith("kmeans-compress: error: ") and message in err and "\n" not in err
    assert "Traceback" not in r.text


def test_upload_name_is_cleaned(client, small):
    info = upload(client, small, "..%2F..%2Fetc%2Fpasswd")
    assert info["name"] == "passwd"


@pytest.mark.parametrize(
    "options, message",
    [
        ({"k": 0}, "argument -k/--colors: must be from 1 to 256"),
        ({"k": 257}, "got 257"),
        ({"k": "many"}, "'many' is not an integer"),
        ({"k": 2.5}, "2.5 is not an integer"),
        ({"space": "hsv"}, "argument --space: invalid choice: 'hsv'"),
        ({"seed": -1}, "argument --seed: must be >= 0"),
        ({"dither": "maybe"}, "dither: expected 0 or 1"),
    ],
)
def test_bad_options(client, small, options, message):
    info = upload(client, small)
    r = client.post("/api/compress", json={"id": info["id"], **options})
    assert r.status_code == 400 and message in r.json()["error"]
    q = "&".join(f"{k}={v}" for k, v in options.items())
    assert client.get(f"/api/result.png?id={info['id']}&{q}").status_code == 400


@pytest.mark.parametrize(
    "field, message",
    [
        ('"seq": Infinity', "seq: inf is not an integer"),
        ('"seq": -Infinity', "seq: -inf is not an integer"),
        ('"seq": 1e400', "seq: inf is not an integer"),
        ('"seq": NaN', "seq: nan is not an integer"),
        ('"seq": 2.5', "seq: 2.5 is not an integer"),
        ('"seq": true', "seq: True is not an integer"),
        ('"seq": -1', "seq: must be from 0 to 9007199254740991, got -1"),
        ('"k": Infinity', "argument -k/--colors: inf is not an integer"),
        ('"k": NaN', "argument -k/--colors: nan is not an integer"),
        ('"seed": Infinity', "argument --seed: inf is not an integer"),
        ('"seed": -Infinity', "argument --seed: -inf is not an integer"),
        ('"dither": NaN', "dither: expected 0 or 1, got nan"),
        ('"strip": Infinity', "strip: expected 0 or 1, got inf"),
    ],
)
def test_non_finite_numbers_in_json_are_400(client, small, field, message):
    # JSON's Infinity for seq reached int() (OverflowError, HTTP 500) while NaN gave 400.
    info = upload(client, small)
    body = f'{{"id": "{info["id"]}", {field}}}'
    r = client.post("/api/compress", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == f"kmeans-compress: error: {message}"


def test_seq_from_the_page_is_taken(client, small):
    info = upload(client, small)
    for seq in (0, 7, "8", 2**53 - 1):
        r = client.post("/api/compress", json={"id": info["id"], "k": 2, "seq": seq, "client": "t"})
        assert r.status_code == 200, r.text


def test_bad_requests(client):
    assert client.post("/api/compress", content=b"{", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/compress", json=[1]).status_code == 400
    r = client.post("/api/compress", json={"id": "0" * 20, "k": 4})
    assert r.status_code == 404 and r.json()["gone"] is True
    assert client.get("/api/batch/nope").status_code == 404


def test_stale_slider_positions_are_dropped():
    jobs = _web.Jobs(1)
    release = threading.Event()
    ran = []
    first = threading.Thread(target=lambda: jobs.run(lambda: (release.wait(5), ran.append(1))))
    first.start()
    while not jobs.running:
        time.sleep(0.01)
    results = {}

    def move(seq):
        jobs.announce("page", seq)
        try:
            results[seq] = jobs.run(lambda: ran.append(seq) or seq, "page", seq)
        except _web.Stale:
            results[seq] = "stale"

    waiting = [threading.Thread(target=move, args=(s,)) for s in (1, 2, 3)]
    for t in waiting:
        t.start()
        time.sleep(0.05)
    release.set()
    for t in [first, *waiting]:
        t.join(5)
    assert results == {1: "stale", 2: "stale", 3: 3} and ran == [1, 3] and jobs.dropped == 2


def test_jobs_side_by_side_each_take_their_share_of_the_cores(monkeypatch):
    """A job that runs alone may use every core; one that starts beside another, half of them."""
    from kmeans_compress import _backend

    monkeypatch.setattr(_backend, "available_cores", lambda: 4)
    monkeypatch.setattr(_backend, "free_cores", lambda: 4)
    monkeypatch.setattr(_web, "available_cores", lambda: 4)
    jobs = _web.Jobs(2)
    release = threading.Event()
    seen = {}
    first = threading.Thread(
        target=lambda: jobs.run(lambda: (seen.update(first=_backend.thread_limit()), release.wait(5)))
    )
    first.start()
    while not jobs.running:
        time.sleep(0.01)
    second = jobs.run(_backend.thread_limit)
    release.set()
    first.join(5)
    assert seen == {"first": 4} and second == 2
    assert _backend.thread_limit() == 4  # this thread has no cap of its own


def test_several_requests_at_once_one_job_per_slot(sample):
    app = _web.create_app(slots=2)
    with TestClient(app) as c:
        info = upload(c, sample, "chelsea.png")
        out: dict = {}

        def ask(k):
            out[k] = c.post("/api/compress", json={"id": info["id"], "k": k})

        threads = [threading.Thread(target=ask, args=(k,)) for k in (2, 3, 4, 5, 6, 7)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert {k: r.status_code for k, r in out.items()} == {k: 200 for k in (2, 3, 4, 5, 6, 7)}
        assert {k: r.json()["report"]["n_colors_used"] for k, r in out.items()} == {k: k for k in out}
        assert 1 <= app.state.server.jobs.peak <= 2


def test_cache_is_bounded_in_bytes(small):
    app = _web.create_app(cache_bytes=3 * 24 * 32 * 3)  # three small images
    with TestClient(app) as c:
        ids = []
        for seed in range(6):
            a = np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8)
            ids.append(upload(c, png_bytes(a))["id"])
        server = app.state.server
        assert len(server.images) == 3 and server.images.nbytes <= 3 * 24 * 32 * 3
        assert c.post("/api/compress", json={"id": ids[0]}).status_code == 404  # evicted: the page re-sends
        assert c.post("/api/compress", json={"id": ids[-1], "k": 4}).status_code == 200


def test_batch_zip_with_report(client, sample, small):
    r = client.post("/api/batch?k=4")
    assert r.status_code == 200
    job = r.json()["id"]
    for name, data in (("a.png", small), ("a.png", small), ("bad.png", b"nope"), ("cat.png", sample)):
        assert client.post(f"/api/batch/{job}/files?name={name}", content=data).status_code == 200
    assert client.get(f"/api/batch/{job}/zip").status_code == 409  # not yet
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    for _ in range(300):
        status = client.get(f"/api/batch/{job}").json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.1)
    assert status["state"] == "done" and status["done"] == 4
    assert any("bad.png" in e for e in status["errors"])
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    assert sorted(z.namelist()) == ["a (2).kmc.png", "a.kmc.png", "cat.kmc.png", "report.csv"]
    report = z.read("report.csv").decode()
    assert report.startswith("input_path,output_path,status") and "bad.png" in report and "failed" in report
    assert "images/cat.png,compressed/cat.kmc.png,done" in report and "kmeans-compress-serve" not in report
    assert Image.open(io.BytesIO(z.read("cat.kmc.png"))).mode == "P"
    assert client.post(f"/api/batch/{job}/start").status_code == 409


def _finished(c, job: str) -> dict:
    for _ in range(300):
        status = c.get(f"/api/batch/{job}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"batch {job} did not finish: {status}")


def test_batch_reports_an_empty_upload_failed_and_does_the_others(client, small):
    # An empty file was refused at upload (415), which stopped the page's batch: no zip, and the
    # batch left "uploading". It is one more file of the batch, failed with its reason, as folder
    # mode reports a 0-byte file named on the command line.
    job = client.post("/api/batch?k=4").json()["id"]
    for name, data in (("a.png", small), ("empty.png", b""), ("b.png", small)):
        r = client.post(f"/api/batch/{job}/files?name={name}", content=data)
        assert r.status_code == 200, r.text
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    status = _finished(client, job)
    assert status["state"] == "done" and status["files"] == status["done"] == 3, status
    assert status["summary"].startswith("2 done, 0 skipped (up to date), 1 failed")
    assert status["errors"] == ["kmeans-compress: error: images/empty.png: the file is empty (0 bytes)"]
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    assert sorted(z.namelist()) == ["a.kmc.png", "b.kmc.png", "report.csv"]
    rows = {r.split(",")[0]: r.split(",")[2] for r in z.read("report.csv").decode().splitlines()[1:]}
    assert rows == {"images/a.png": "done", "images/b.png": "done", "images/empty.png": "failed"}


def test_batch_takes_every_upload_whatever_its_name(client, small, tmp_path, monkeypatch):
    # A name without an extension, or a hidden one, is still a file the user chose: folder mode's
    # walk skipped them, and the batch said "1 done ... 0 failed" for 3 files.
    names = ["photo", ".hidden.png", "a.png"]
    job = client.post("/api/batch?k=4").json()["id"]
    for name in names:
        assert client.post(f"/api/batch/{job}/files?name={name}", content=small).status_code == 200
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    status = _finished(client, job)
    assert status["state"] == "done" and status["files"] == status["done"] == 3 and not status["errors"]
    assert status["summary"].startswith("3 done, 0 skipped (up to date), 0 failed")
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    outputs = [".hidden.kmc.png", "a.kmc.png", "photo.kmc.png"]
    assert sorted(z.namelist()) == [*outputs, "report.csv"]
    for out in outputs:
        im = Image.open(io.BytesIO(z.read(out)))
        assert (im.mode, im.size) == ("P", (32, 24))
    rows = z.read("report.csv").decode().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == sorted(f"images/{n}" for n in names)
    assert all(r.split(",")[2] == "done" for r in rows)
    # "Copy command": the same files from the command line, run where images/ holds the uploads.
    assert status["command"].startswith("kmeans-compress images/.hidden.png images/a.png images/photo -o ")
    (tmp_path / "images").mkdir()
    for name in names:
        (tmp_path / "images" / name).write_bytes(small)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(status["command"])[1:] + ["-q"]) == 0
    for out in outputs:
        assert (tmp_path / "compressed" / out).read_bytes() == z.read(out)


def test_batch_zip_holds_the_bytes_its_command_writes(client, sample, small, tmp_path, monkeypatch):
    # The outputs' resume stamps held the server's --max-pixels (here 200,000; 50 million by
    # default) and the command the CLI's default: every PNG of the zip was a byte smaller than
    # the command's, and the command run over the unzipped outputs redid every one of them.
    other = png_bytes(np.full((8, 8, 3), 200, np.uint8))
    files = {"cat.png": sample, "a.png": small, "b.png": other}
    job = client.post("/api/batch?k=8&seed=2").json()["id"]
    for name, data in files.items():
        assert client.post(f"/api/batch/{job}/files?name={name}", content=data).status_code == 200
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    status = _finished(client, job)
    assert status["state"] == "done" and not status["errors"], status
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    (tmp_path / "images").mkdir()
    for name, data in files.items():
        (tmp_path / "images" / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(status["command"])[1:] + ["-q"]
    assert main(argv) == 0
    pngs = sorted(n for n in z.namelist() if n.endswith(".png"))
    assert pngs == ["a.kmc.png", "b.kmc.png", "cat.kmc.png"]
    for name in pngs:
        assert (tmp_path / "compressed" / name).read_bytes() == z.read(name), name
    # and so the command, run again over the unzipped outputs, finds them up to date
    for name in pngs:
        (tmp_path / "compressed" / name).write_bytes(z.read(name))
    assert main(argv) == 0
    rows = (tmp_path / "compressed" / "report.csv").read_text().splitlines()[1:]
    assert [r.split(",")[2] for r in rows] == ["skipped"] * 3, rows


LONG_NAMES = ["照片" * 45 + ".png", "📷" * 70 + ".jpeg", "é" * 150 + ".webp", "a" * 300 + ".png", "b." + "é" * 200]


@pytest.mark.parametrize("raw", LONG_NAMES, ids=["cjk", "emoji", "accents", "ascii", "long-suffix"])
def test_long_names_are_capped_in_bytes_keeping_the_suffix(raw):
    # File systems limit a name to 255 bytes: 90 CJK characters (274 bytes) passed a cap of
    # 200 characters and the batch upload failed with "File name too long" (HTTP 500).
    name = _web._clean_name(raw)
    data = name.encode("utf-8")  # valid UTF-8: no half of a character
    assert 150 <= len(data) <= 200
    suffix = Path(raw).suffix if len(Path(raw).suffix) < 10 else ""
    assert name.endswith(suffix) and raw.startswith(name.removesuffix(suffix))
    # room left for what a batch adds: " (2)", ".kmc.png" and the temporary file's ".", ".XXXXXXXXXXXX.tmp"
    assert len(("." + _web.output_name(Path(name).stem + " (500)" + suffix) + ".0123456789ab.tmp").encode()) <= 255


def test_batch_with_long_non_ascii_names(client, small):
    job = client.post("/api/batch?k=4").json()["id"]
    for raw in LONG_NAMES:
        r = client.post(f"/api/batch/{job}/files?name={quote(raw)}", content=small)
        assert r.status_code == 200, r.text
    r = client.post(f"/api/images?name={quote(LONG_NAMES[0])}", content=small)
    assert r.status_code == 200 and r.json()["name"] == _web._clean_name(LONG_NAMES[0])
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    status = _finished(client, job)
    assert status["state"] == "done" and status["done"] == len(LONG_NAMES) and not status["errors"], status
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    expected = {_web.output_name(_web._clean_name(raw)) for raw in LONG_NAMES}
    assert set(z.namelist()) == {*expected, "report.csv"}


def test_batch_uploads_with_the_same_stem_get_their_own_outputs(client, small, tmp_path, monkeypatch):
    # x.png and x.jpg both made x.kmc.png: the second failed with "same output file", though the
    # server renames uploads anyway. It is renamed so that its output is its own.
    other = png_bytes(np.full((8, 8, 3), 200, np.uint8))
    job = client.post("/api/batch?k=4").json()["id"]
    for name, data in (("x.png", small), ("x.jpg", other), ("X.GIF", small)):
        assert client.post(f"/api/batch/{job}/files?name={name}", content=data).status_code == 200
    assert client.post(f"/api/batch/{job}/start").status_code == 200
    status = _finished(client, job)
    assert status["state"] == "done" and status["done"] == 3 and not status["errors"], status
    z = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).content))
    outputs = ["X (3).kmc.png", "x (2).kmc.png", "x.kmc.png"]
    assert set(z.namelist()) == {*outputs, "report.csv"}
    assert np.asarray(Image.open(io.BytesIO(z.read("x (2).kmc.png"))).convert("RGB")).max() == 200
    # "Copy command", run where images/ holds the uploads under the names the report gives
    rows = [r.split(",")[0] for r in z.read("report.csv").decode().splitlines()[1:]]
    assert sorted(rows) == ["images/X (3).GIF", "images/x (2).jpg", "images/x.png"]
    assert status["command"].startswith("kmeans-compress images/ -o compressed/")
    (tmp_path / "images").mkdir()
    for name, data in (("x.png", small), ("x (2).jpg", other), ("X (3).GIF", small)):
        (tmp_path / "images" / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(status["command"])[1:] + ["-q"]) == 0
    for out in outputs:
        ours, theirs = Image.open(tmp_path / "compressed" / out), Image.open(io.BytesIO(z.read(out)))
        np.testing.assert_array_equal(np.asarray(ours.convert("RGB")), np.asarray(theirs.convert("RGB")))


def test_batch_command_is_the_folder_when_the_walk_takes_every_upload():
    b = _web._Batch("x", Path("/nowhere"), _web.Options(n_colors=4), names=["a.png", "b.JPG"])
    assert b.command().startswith("kmeans-compress images/ -o compressed/")
    b.names.append("c")
    assert b.command().startswith("kmeans-compress images/a.png images/b.JPG images/c -o compressed/")


def test_batch_command_lists_the_files_when_an_upload_carries_our_stamp(tmp_path, small):
    """An upload that is an output of a folder run (it carries the resume stamp) would be left out
    by the folder walk: the command then names the files, so that it makes what the page made."""
    from kmeans_compress._encode import add_text_chunk
    from kmeans_compress._files import STAMP_KEY

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(small)
    b = _web._Batch("x", tmp_path, _web.Options(n_colors=4), names=["a.png", "b.png"])
    (tmp_path / "images" / "b.png").write_bytes(small)
    assert b.command().startswith("kmeans-compress images/ -o compressed/")
    (tmp_path / "images" / "b.png").write_bytes(add_text_chunk(small, STAMP_KEY, '{"v": 1}'))
    assert b.command().startswith("kmeans-compress images/a.png images/b.png -o compressed/")


def test_temporary_folder_is_removed(small):
    app = _web.create_app()
    with TestClient(app) as c:
        job = c.post("/api/batch").json()["id"]
        c.post(f"/api/batch/{job}/files?name=a.png", content=small)
        folder = app.state.server.temp_folder()
        assert folder.is_dir()
    assert not folder.exists()


def test_command_line_quoting():
    o = _web.Options(n_colors=4, strip=True)
    assert _web.command_line("it's.png", o) == "kmeans-compress 'it'\"'\"'s.png' -k 4 --strip -o 'it'\"'\"'s.kmc.png'"
    assert _web.command_line("demo", o).startswith("kmeans-compress ./demo -k 4")


def test_serve_without_the_web_extra(monkeypatch, capsys):
    monkeypatch.setattr(_web, "_MISSING", "starlette")
    from kmeans_compress.cli import main

    assert main(["serve"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "kmeans-compress: error: serve needs the web extra (starlette is not installed): "
        "pip install 'kmeans-compress[web]'"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--port", "-1"], "argument --port: must be from 0 (a free port) to 65535, got -1"),
        (["--port", "70000"], "argument --port: must be from 0 (a free port) to 65535, got 70000"),
        (["--port", "x"], "argument --port: 'x' is not an integer"),
        (["--max-upload-mb", "inf"], "argument --max-upload-mb: must be a number > 0"),
        (["--max-upload-mb", "nan"], "argument --max-upload-mb: must be a number > 0"),
        (["--cache-mb", "inf"], "argument --cache-mb: must be a number > 0"),
        (["--cache-mb", "1e308"], "argument --cache-mb: must be a number > 0"),
        (["--max-pixels", "0"], "argument --max-pixels: must be >= 1, got 0"),
        (["--jobs", "0"], "argument -j/--jobs: must be >= 1, got 0"),  # as the main command's -j 0
    ],
)
def test_serve_bad_options_are_one_line_usage_errors(argv, message, monkeypatch, capsys):
    # bind() raised OverflowError for a port out of range, int() for inf megabytes, and --jobs 0
    # started the server with the default: each must stop before anything listens.
    import uvicorn

    def started(*args, **kwargs):
        raise AssertionError("the server started")

    monkeypatch.setattr(uvicorn.Server, "run", started)
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kmeans-compress: error: {message}") and err.count("\n") == 1


def test_serve_listens_on_localhost_by_default():
    args = _web._parser().parse_args([])
    assert (args.host, args.port) == ("127.0.0.1", 8000)
