"""kmeans-compress serve, end to end in a real headless Chromium (Debian's, driven by playwright).

Upload the embedded sample, move the K slider and see the byte count change, copy the
command line, run it, download the PNG: the same bytes. Writes a screenshot of the page: into the
test's temporary folder, or over docs/images/web.png (the README's) when KMC_UPDATE_SCREENSHOT=1.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import kmeans_compress as kc

pytest.importorskip("starlette")
sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = next(
    (
        p
        for p in (
            os.environ.get("KMC_CHROMIUM"),
            "/usr/bin/chromium",
            shutil.which("chromium"),
            shutil.which("chromium-browser"),
        )
        if p and os.path.exists(p)
    ),
    None,
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
README_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "web.png"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="notice: no Chromium found (make browser installs Debian's chromium); browser test skipped"
)


@pytest.fixture(scope="module")
def server_url():
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(kc.__file__).parents[1]), os.environ.get("PYTHONPATH")])),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmeans_compress", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = proc.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert m, f"no address in {line!r}"
        yield m.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            accept_downloads=True,
            viewport={"width": 1280, "height": 860},
            permissions=["clipboard-read", "clipboard-write"],
        )
        try:
            yield context
        finally:
            context.close()


def after_bytes(page) -> int:
    return int(re.match(r"([\d,]+) bytes", page.inner_text("#s-after")).group(1).replace(",", ""))


def test_page_gives_the_command_lines_bytes(server_url, browser, tmp_path):
    work = tmp_path / "photos"
    work.mkdir()
    src = work / "chelsea.png"
    shutil.copyfile(kc.sample_image_path(), src)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server_url + "?k=16")
    page.set_input_files("#pick", str(src))
    page.wait_for_function("document.querySelector('#s-after').textContent.includes('bytes')", timeout=60_000)
    first = after_bytes(page)
    assert page.inner_text("#command") == "kmeans-compress chelsea.png -k 16 -o chelsea.kmc.png"

    # Move the slider to 64 colours (slider position 500 = 2^(1 + 5)): the byte count changes.
    page.eval_on_selector("#k-slider", "el => { el.value = 500; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('#command').textContent.includes('-k 64')", timeout=60_000)
    assert page.input_value("#k-number") == "64"
    assert after_bytes(page) != first
    assert "k=64" in page.url  # the settings are in the URL

    page.check("#dither")
    page.select_option("#space", "lab")
    page.wait_for_function(
        "document.querySelector('#command').textContent.includes('--space lab --dither')", timeout=60_000
    )
    page.click("#copy")
    command = page.evaluate("navigator.clipboard.readText()")
    assert command == page.inner_text("#command")
    assert command == "kmeans-compress chelsea.png -k 64 --space lab --dither -o chelsea.kmc.png"

    with page.expect_download() as dl:
        page.click("#download")
    download = dl.value
    assert download.suggested_filename == "chelsea.kmc.png"
    downloaded = Path(download.path()).read_bytes()

    argv = shlex.split(command)
    assert argv[0] == "kmeans-compress"
    subprocess.run([sys.executable, "-m", "kmeans_compress", *argv[1:], "-q"], cwd=work, check=True)
    assert (work / "chelsea.kmc.png").read_bytes() == downloaded
    assert len(downloaded) == after_bytes(page)

    # A link with the settings reproduces them.
    page2 = browser.new_page()
    page2.goto(page.url)
    assert page2.input_value("#k-number") == "64" and page2.is_checked("#dither")
    assert page2.input_value("#space") == "lab"
    page2.close()

    # The figure for the README: a smaller palette reads better; divider a little left of centre.
    page.eval_on_selector("#k-slider", "el => { el.value = 300; el.dispatchEvent(new Event('input')); }")
    page.uncheck("#dither")
    page.wait_for_function(
        "document.querySelector('#command').textContent === "
        "'kmeans-compress chelsea.png -k 16 --space lab -o chelsea.kmc.png'",
        timeout=60_000,
    )
    page.wait_for_function("document.querySelector('#img-result').complete", timeout=10_000)
    page.evaluate("document.querySelector('aside').scrollTop = 0; fit(); state.view.split = 0.42; applyView()")
    shot = README_SCREENSHOT if os.environ.get("KMC_UPDATE_SCREENSHOT") == "1" else tmp_path / "web.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000  # a rendered page, not an empty frame
    assert not errors, errors


def test_bad_file_shows_the_cli_line(server_url, browser, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page = browser.new_page()
    page.goto(server_url)
    page.set_input_files("#pick", str(bad))
    page.wait_for_selector("#message:not([hidden])", timeout=20_000)
    assert page.inner_text("#message") == "kmeans-compress: error: notes.png: not an image file Pillow can read"


def test_batch_with_an_empty_file_gives_the_zip_of_the_others(server_url, browser, tmp_path):
    # The empty file's upload was refused (415) and the page's batch stopped there: no zip, the
    # others never compressed. Now it is reported failed in the batch, a file over the upload
    # limit is listed as not uploaded, and the zip of the others comes back.
    import zipfile

    import numpy as np
    from PIL import Image

    work = tmp_path / "photos"
    work.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(work / "small.png")
    shutil.copyfile(kc.sample_image_path(), work / "chelsea.png")  # 240,512 bytes: over the limit set below
    (work / "notes.png").write_text("not an image")
    (work / "empty.png").write_bytes(b"")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server_url + "?k=8")
    page.wait_for_function("state.config.version !== undefined", timeout=20_000)
    page.evaluate("state.config.max_upload_bytes = 100000")
    page.set_input_files("#pick", [str(work / n) for n in ("small.png", "chelsea.png", "notes.png", "empty.png")])
    page.wait_for_selector("#batch-run:not([disabled])", timeout=20_000)
    with page.expect_download(timeout=60_000) as dl:
        page.click("#batch-run")
    z = zipfile.ZipFile(dl.value.path())
    assert sorted(z.namelist()) == ["report.csv", "small.kmc.png"]
    rows = {r.split(",")[0]: r.split(",")[2] for r in z.read("report.csv").decode().splitlines()[1:]}
    assert rows == {"images/empty.png": "failed", "images/notes.png": "failed", "images/small.png": "done"}
    message = page.inner_text("#message")
    assert "kmeans-compress: error: chelsea.png: 240,512 bytes is more than the upload limit of 100,000" in message
    assert "kmeans-compress: error: images/empty.png: the file is empty (0 bytes)" in message
    assert "1 done, 0 skipped (up to date), 2 failed" in page.inner_text("#batch-status")
    assert "(and 1 not uploaded)" in page.inner_text("#batch-status")
    assert not errors, errors
