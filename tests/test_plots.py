"""The tutorial's figures: each is written as PNG, decoded with Pillow and checked against
numbers computed here independently of the plotting code."""

from __future__ import annotations

import io
import math
import re
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402

from kmeans_compress import (  # noqa: E402
    OutputExistsError,
    compress,
    kmeans_init_centroids,
    run_kmeans,
    sample_image_path,
    sweep,
)
from kmeans_compress import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def blobs() -> np.ndarray:
    X, _ = make_blobs(n_samples=300, centers=4, cluster_std=0.60, random_state=0)
    return X


@pytest.fixture(scope="module")
def swept():
    return sweep(sample_image_path(), ks=[32, 2, 8, 8])


@pytest.fixture(scope="module")
def result8():
    return compress(sample_image_path(), n_colors=8, random_state=0)


def _decode(path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB"))


def _distinct_colours(rgb: np.ndarray) -> set[tuple[int, int, int]]:
    return set(map(tuple, np.unique(rgb.reshape(-1, 3), axis=0).tolist()))


def test_progress_figure_follows_run_kmeans(tmp_path, blobs):
    init = kmeans_init_centroids(blobs, 4, random_state=0)
    history, idx = plots._kmeans_with_history(blobs, init, 10)
    centroids, idx_ref = run_kmeans(blobs, init, max_iters=10)
    np.testing.assert_allclose(history[-1], centroids)
    np.testing.assert_array_equal(idx, idx_ref)

    out = tmp_path / "progress.png"
    fig = plots.plot_progress_kmeans(blobs, history, idx, path=out)
    px = _decode(out)
    assert px.shape == (500, 600, 3)  # figsize 6 x 5 inches at 100 dpi
    assert len(_distinct_colours(px)) > 50
    # The final centroids are red X markers: pure-red pixels are there.
    assert np.any((px[:, :, 0] > 230) & (px[:, :, 1] < 30) & (px[:, :, 2] < 30))
    assert fig.axes[0].get_title() == f"K-means progress: {len(history) - 1} iterations"


def test_run_kmeans_plot_progress_draws_one_figure(blobs):
    before = len(plt.get_fignums())
    run_kmeans(blobs, kmeans_init_centroids(blobs, 4, random_state=1), plot_progress=True)
    assert len(plt.get_fignums()) == before + 1


def test_restarts_show_each_start_distortion_and_mark_the_best(tmp_path, blobs):
    out = tmp_path / "restarts.png"
    fig = plots.plot_restarts(blobs, 4, n_init=6, random_state=0, path=out)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert len(titles) == 6
    expected = []
    for i in range(6):
        c, idx = run_kmeans(blobs, kmeans_init_centroids(blobs, 4, random_state=i), max_iters=10)
        expected.append(float(np.mean(np.sum((blobs - c[idx]) ** 2, axis=1))))
    shown = [float(re.search(r"J = ([0-9.]+)", t).group(1)) for t in titles]
    np.testing.assert_allclose(shown, expected, atol=5e-4)
    best = [i for i, t in enumerate(titles) if "(best)" in t]
    assert best == [int(np.argmin(expected))]
    # These six starts do not all reach the same clustering: the figure makes that point.
    assert max(expected) > 1.5 * min(expected)
    px = _decode(out)
    assert px.shape[1] == 1080 and px.shape[0] > 600


def test_comparison_title_swatches_and_size(tmp_path, result8):
    out = tmp_path / "comparison.png"
    fig = plots.plot_comparison(result8, path=out)
    px = _decode(out)
    h, w = result8.labels.shape
    assert px.shape[1] == 1040 and px.shape[0] > 500

    # Independent figures: decode the real PNG and measure it.
    data = result8.to_png_bytes()
    with Image.open(io.BytesIO(data)) as img:
        decoded = np.asarray(img.convert("RGB")).astype(float)
    mse = np.mean((decoded - result8.original.astype(float)) ** 2)
    title = fig._suptitle.get_text()
    assert f"{len(data):,} bytes" in title
    assert f"{8 * len(data) / (h * w):.2f} bits/pixel" in title
    assert f"PSNR {10 * math.log10(255**2 / mse):.1f} dB" in title
    assert title.startswith("K = 8:")

    # Every palette entry is drawn as a swatch: its exact colour is in the figure.
    colours = _distinct_colours(px)
    for entry in result8.palette.tolist():
        assert tuple(entry) in colours


def test_figures_are_deterministic_and_carry_no_software_tag(result8):
    a = plots.figure_to_png_bytes(plots.plot_comparison(result8))
    b = plots.figure_to_png_bytes(plots.plot_comparison(result8))
    assert a == b
    assert b"matplotlib" not in a.lower()


def test_save_figure_never_overwrites_without_asking(tmp_path, result8):
    out = tmp_path / "c.png"
    out.write_bytes(b"keep me")
    fig = plots.plot_comparison(result8)
    with pytest.raises(OutputExistsError):
        plots.save_figure(fig, out)
    assert out.read_bytes() == b"keep me"
    plots.save_figure(fig, out, overwrite=True)
    assert _decode(out).shape[2] == 3
    with pytest.raises(ValueError, match=r"\.png"):
        plots.save_figure(fig, tmp_path / "c.jpg")
    assert [p.name for p in tmp_path.iterdir()] == ["c.png"]  # no temporary left behind


def test_pixels_rgb_scatter(tmp_path, result8):
    out = tmp_path / "rgb.png"
    fig = plots.plot_pixels_rgb(result8, n_samples=500, path=out)
    assert "500 pixels" in fig.axes[0].get_title()
    px = _decode(out)
    assert px.shape == (550, 600, 3)
    assert len(_distinct_colours(px)) > 100


def test_rate_distortion_figure(tmp_path, swept):
    results = swept
    out = tmp_path / "rd.png"
    fig = plots.plot_rate_distortion(results, path=out)
    px = _decode(out)
    assert px.shape == (460, 1620, 3)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("elbow: K = ") for t in texts)
    fig2 = plots.plot_rate_distortion(results, scatter_k=None)
    assert len([ax for ax in fig2.axes if ax.name == "3d"]) == 0


def test_elbow_of_a_known_curve():
    assert plots._elbow([1, 2, 4, 8, 16, 32], [100, 20, 10, 8, 7, 6.5]) == 1
    assert plots._elbow([2, 4, 8, 16, 32], [100, 90, 80, 10, 5]) == 3
    assert plots._elbow([2, 4], [10, 5]) == 0


def test_sweep_reports_the_real_png_bytes(swept):
    results = swept
    assert [r.report.n_colors for r in results] == [2, 8, 32]
    sizes = []
    for r in results:
        data = r.to_png_bytes()
        assert r.report.output_bytes == len(data)
        with Image.open(io.BytesIO(data)) as img:
            decoded = np.asarray(img.convert("RGB")).astype(float)
        assert len(_distinct_colours(decoded.astype(np.uint8))) <= r.report.n_colors
        assert np.mean((decoded - r.original.astype(float)) ** 2) == pytest.approx(r.report.mse, rel=1e-9)
        sizes.append(len(data))
    assert sizes == sorted(sizes) and len(set(sizes)) == 3
    with pytest.raises(ValueError):
        sweep(sample_image_path(), ks=[0])
    with pytest.raises(ValueError):
        sweep(sample_image_path(), ks=[])


def test_missing_matplotlib_gives_an_install_hint(monkeypatch, result8):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    assert not plots.matplotlib_available()
    with pytest.raises(ImportError, match=r"pip install 'kmeans-compress\[plot\]'"):
        plots.plot_comparison(result8)


def test_readme_figure_is_a_small_png():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "images" / "demo_comparison.png"
    assert path.stat().st_size < 300_000
    px = _decode(path)
    assert px.shape[1] > 600 and len(_distinct_colours(px)) > 1000
    assert "docs/images/demo_comparison.png" in (path.parents[2] / "README.md").read_text()
