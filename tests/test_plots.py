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
    compute_centroids,
    kmeans_init_centroids,
    plots,  # noqa: E402
    run_kmeans,
    sample_image_path,
    sweep,
)


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


def test_readme_demo_figures_are_what_the_demo_writes():
    """The README's demo report (and so the title of docs/images/demo_comparison.png, drawn from
    the same result by the command in the README's comment) gives the bytes and quality the demo
    writes today: measured here on the decoded PNG, not read from the report. A change to the
    encoder or the fit that moves them must regenerate both."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"chelsea\.png \(embedded sample\).*?comparison figure", readme, flags=re.S).group(0)
    stated_bytes = int(re.search(r"file: ([\d,]+) bytes", block).group(1).replace(",", ""))
    stated_mse, stated_psnr = map(float, re.search(r"MSE ([\d.]+), PSNR ([\d.]+) dB", block).groups())

    data = compress(sample_image_path(), n_colors=16, random_state=0).to_png_bytes()
    with Image.open(io.BytesIO(data)) as img:
        decoded = np.asarray(img.convert("RGB")).astype(float)
    with Image.open(sample_image_path()) as img:
        original = np.asarray(img.convert("RGB")).astype(float)
    mse = float(np.mean((decoded - original) ** 2))
    assert len(data) == stated_bytes
    assert round(mse, 3) == stated_mse
    assert round(10 * math.log10(255**2 / mse), 2) == stated_psnr


# --------------------------------------------------------------------------- transparency and gray


def _blend(colour, alpha, board):
    """One channel of ``colour`` at ``alpha`` over ``board``, by the usual formula, rounded."""
    return int(np.rint((colour * alpha + board * (255 - alpha)) / 255.0))


def _rgba_image() -> np.ndarray:
    """12 x 16 RGBA: a transparent band of magenta (never a visible colour), a partly transparent band,
    the rest opaque; every visible colour has R + G + B <= 510 (magenta's sum)."""
    y, x = np.mgrid[0:12, 0:16]
    rgba = np.zeros((12, 16, 4), np.uint8)
    rgba[..., 0] = x * 10
    rgba[..., 1] = y * 12
    rgba[..., 2] = 60
    rgba[..., 3] = 255
    rgba[:, :4] = (255, 0, 255, 0)
    rgba[:, 4:8, 3] = 100
    return rgba


def test_swatches_of_an_rgba_palette_are_drawn_over_a_checkerboard():
    palette = np.array([[200, 100, 0, 128], [10, 20, 30, 255], [0, 0, 0, 0]], np.uint8)
    grid = plots._swatch_grid(palette)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    cell = grid.shape[0]  # one row of three square swatches
    assert grid.shape[1] == 3 * cell
    swatches = [grid[:, i * cell : (i + 1) * cell].reshape(-1, 3) for i in range(3)]
    # partly transparent: the entry blended over each of the two board grays, nothing else
    expected = {tuple(_blend(c, 128, b) for c in (200, 100, 0)) for b in (255, 204)}
    assert set(map(tuple, swatches[0].tolist())) == expected
    # opaque: exactly the entry's colour; fully transparent: the bare board
    assert set(map(tuple, swatches[1].tolist())) == {(10, 20, 30)}
    assert set(map(tuple, swatches[2].tolist())) == {(255, 255, 255), (204, 204, 204)}


@pytest.mark.parametrize(
    "palette, rgb",
    [
        (np.array([7, 99, 250], np.uint8), [(7, 7, 7), (99, 99, 99), (250, 250, 250)]),  # gray (K,)
        (np.array([[7], [99], [250]], np.uint8), [(7, 7, 7), (99, 99, 99), (250, 250, 250)]),  # gray (K, 1)
        (np.array([[7, 255], [99, 255], [250, 255]], np.uint8), [(7, 7, 7), (99, 99, 99), (250, 250, 250)]),
        (np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], np.uint8), [(1, 2, 3), (4, 5, 6), (7, 8, 9)]),
    ],
)
def test_swatches_of_opaque_gray_and_rgb_palettes_are_the_exact_colours(palette, rgb):
    grid = plots._swatch_grid(palette)
    assert grid.shape == (1, 3, 3)
    assert [tuple(c) for c in grid[0].tolist()] == rgb


def test_swatches_of_a_gray_alpha_palette():
    grid = plots._swatch_grid(np.array([[90, 50], [90, 255]], np.uint8))
    cell = grid.shape[0]
    assert set(map(tuple, grid[:, :cell].reshape(-1, 3).tolist())) == {(_blend(90, 50, b),) * 3 for b in (255, 204)}
    assert set(map(tuple, grid[:, cell:].reshape(-1, 3).tolist())) == {(90, 90, 90)}


def test_comparison_of_an_rgba_image_shows_its_swatches_composited(tmp_path):
    result = compress(_rgba_image(), n_colors=6)
    assert result.palette.shape[1] == 4 and result.original.shape[2] == 4
    out = tmp_path / "rgba.png"
    plots.plot_comparison(result, path=out)
    colours = _distinct_colours(_decode(out))
    for r, g, b, a in result.palette.tolist():
        for board in (255, 204):
            assert tuple(_blend(c, a, board) for c in (r, g, b)) in colours


def test_comparison_of_a_gray_image_is_all_gray(tmp_path):
    import dataclasses

    gray = np.repeat(np.arange(0, 240, 15, dtype=np.uint8)[None, :], 10, axis=0)  # (10, 16)
    result = compress(gray, n_colors=4)
    # gray originals and palettes in their plain shapes, (H, W) and (K,), as if saved already
    size = len(result.to_png_bytes())
    plain = dataclasses.replace(
        result,
        original=gray,
        palette=np.ascontiguousarray(result.palette[:, 0]),
        report=dataclasses.replace(result.report, output_bytes=size),
    )
    for i, r in enumerate((result, plain)):
        plots.plot_comparison(r, path=tmp_path / f"gray{i}.png")
        px = _decode(tmp_path / f"gray{i}.png")
        assert (px[..., 0] == px[..., 1]).all() and (px[..., 1] == px[..., 2]).all()  # no colour map
        colours = _distinct_colours(px)
        for v in result.palette[:, 0].tolist():
            assert (v, v, v) in colours


def test_pixels_rgb_leaves_transparent_pixels_out_and_plots_visible_ones_by_rgb(result8):
    rgba = _rgba_image()
    result = compress(rgba, n_colors=6)
    visible = rgba[rgba[..., 3] > 0]
    fig = plots.plot_pixels_rgb(result, n_samples=10_000)
    ax = fig.axes[0]
    pts = np.column_stack([np.asarray(v, dtype=float) for v in ax.collections[0]._offsets3d])
    assert pts.shape == (visible.shape[0], 3)  # every visible pixel, no transparent one
    np.testing.assert_array_equal(np.unique(pts, axis=0), np.unique(visible[:, :3], axis=0).astype(float))
    assert f"{visible.shape[0]:,} pixels" in ax.get_title()
    marks = np.column_stack([np.asarray(v, dtype=float) for v in ax.collections[1]._offsets3d])
    shown = result.palette[result.palette[:, 3] > 0, :3]
    np.testing.assert_array_equal(np.unique(marks, axis=0), np.unique(shown, axis=0).astype(float))
    # a sample smaller than the visible pixels comes from them only
    pts = np.column_stack(
        [
            np.asarray(v, dtype=float)
            for v in plots.plot_pixels_rgb(result, n_samples=50).axes[0].collections[0]._offsets3d
        ]
    )
    assert pts.shape == (50, 3) and (pts.sum(axis=1) < 510).all()
    # an opaque result samples as before
    pts = np.column_stack(
        [
            np.asarray(v, dtype=float)
            for v in plots.plot_pixels_rgb(result8, n_samples=50).axes[0].collections[0]._offsets3d
        ]
    )
    flat = result8.original.reshape(-1, 3)
    take = np.sort(np.random.default_rng(0).choice(flat.shape[0], size=50, replace=False))
    np.testing.assert_array_equal(pts, flat[take].astype(float))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "PT"])
def test_cli_preview_of_images_with_transparency_or_gray(tmp_path, capsys, mode):
    from kmeans_compress.cli import main

    rgba = _rgba_image()
    src = tmp_path / f"in_{mode}.png"
    if mode == "PT":  # palette image with a transparent index
        p = Image.fromarray(rgba[..., :3]).quantize(16)
        idx = np.asarray(p).copy()
        idx[:, :4] = 15
        p = Image.fromarray(idx, "P")
        p.putpalette(Image.fromarray(rgba[..., :3]).quantize(16).getpalette())
        p.save(src, transparency=15)
    else:
        Image.fromarray(rgba, "RGBA").convert(mode).save(src)
    out, preview = tmp_path / "out.png", tmp_path / "preview.png"
    assert main([str(src), "-o", str(out), "-k", "4", "--preview", str(preview), "-q"]) == 0
    assert capsys.readouterr().err == ""
    px = _decode(preview)
    assert px.shape[0] > 100 and px.shape[1] == 1040
    with Image.open(out) as im:
        used = im.convert("RGBA")
    for r, g, b, a in {tuple(c) for c in np.asarray(used).reshape(-1, 4).tolist()}:
        if a == 255:  # opaque entries appear exactly as swatches (and in the image)
            assert (r, g, b) in _distinct_colours(px)


def test_one_feature_data_is_drawn_on_a_line(tmp_path):
    # Both drew the clustering and then failed on X[:, 1] (IndexError).
    X = np.array([[0.0], [1.0], [5.0], [6.0], [20.0]])
    before = len(plt.get_fignums())
    centroids, idx = run_kmeans(X, X[:2], plot_progress=True)
    assert len(plt.get_fignums()) == before + 1
    np.testing.assert_array_equal(centroids, [[3.0], [20.0]])  # hand-computed: {0, 1, 5, 6} and {20}
    ax = plt.figure(plt.get_fignums()[-1]).axes[0]
    np.testing.assert_array_equal(ax.collections[0].get_offsets(), np.column_stack([X[:, 0], np.zeros(5)]))
    fig = plots.plot_restarts(X, 2, n_init=2, path=tmp_path / "restarts.png")
    assert [ax.get_title()[:7] for ax in fig.axes if ax.get_visible()] == ["start 1", "start 2"]


@pytest.mark.parametrize("k", [4, 15, 20, 30])
def test_every_cluster_has_its_own_colour(k):
    # Up to 10 clusters tab10 as before; beyond, colours were reused (idx % 10).
    X = np.column_stack([np.arange(k, dtype=float), np.zeros(k)])
    fig = plots.plot_progress_kmeans(X, [X], np.arange(k))
    fig.canvas.draw()  # a colour map's colours are set when drawn
    faces = fig.axes[0].collections[0].get_facecolors()
    assert len(np.unique(np.round(faces[:, :3], 6), axis=0)) == k
    if k <= 10:
        np.testing.assert_allclose(faces[:, :3], matplotlib.colormaps["tab10"].colors[:k])


def test_restarts_label_the_x_axis_under_the_last_panel_of_every_column(blobs):
    # 7 panels in 3 columns: the last row has only start 7, so starts 5 and 6 end their columns too.
    fig = plots.plot_restarts(blobs[:60], 3, n_init=7, max_iters=2)
    fig.canvas.draw()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    labelled = [any(t.get_visible() and t.get_text() for t in ax.get_xticklabels()) for ax in visible]
    assert labelled == [False, False, False, False, True, True, True]


@pytest.mark.parametrize(("max_iters", "exc"), [(-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_restarts_check_max_iters_before_clustering(monkeypatch, blobs, max_iters, exc):
    def no_clustering(*args, **kwargs):
        raise AssertionError("clustered before checking max_iters")

    monkeypatch.setattr(plots, "_kmeans_with_history", no_clustering)
    with pytest.raises(exc, match="^max_iters must be an integer >= 0"):
        plots.plot_restarts(blobs, 3, max_iters=max_iters)


def test_comparison_names_the_palette_order_and_a_larger_file():
    from kmeans_compress import compress_with_palette

    img = np.array([[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]], np.uint8)
    given = compress_with_palette(img, [[255, 255, 255], [0, 0, 0], [0, 0, 255], [255, 0, 0]])
    fig = plots.plot_comparison(given)
    assert fig.axes[2].get_title() == "palette, in the given order"
    # 4 pixels in a PNG of some 100 bytes: far more than 24 bits a pixel.
    bpp = 8 * len(given.to_png_bytes()) / 4
    assert bpp > 24
    assert f"{bpp / 24:.1f}x larger than 24-bit RGB" in fig._suptitle.get_text()
    fitted = plots.plot_comparison(compress(img, n_colors=4))
    assert fitted.axes[2].get_title() == "palette, most frequent first"


def test_progress_plot_takes_whole_number_float_indices_as_compute_centroids_does():
    # np.array([0., 0, 1, 1]) raised IndexError; compute_centroids takes it (check_labels)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    history = [X[[0, 1]], compute_centroids(X, np.array([0.0, 0, 1, 1]), 2)]
    as_ints = plots.plot_progress_kmeans(X, history, np.array([0, 0, 1, 1]))
    as_floats = plots.plot_progress_kmeans(X, history, np.array([0.0, 0, 1, 1]))
    for fig in (as_ints, as_floats):
        fig.canvas.draw()
    faces = [fig.axes[0].collections[0].get_facecolors()[:, :3] for fig in (as_ints, as_floats)]
    np.testing.assert_array_equal(faces[0], faces[1])
    np.testing.assert_allclose(faces[0], np.array(matplotlib.colormaps["tab10"].colors)[[0, 0, 1, 1]])


@pytest.mark.parametrize(
    "idx, words",
    [
        ([0, 0, 1, 2], "outside 0..1"),  # was numpy's IndexError
        ([0, 0, 1, -1], "outside 0..1"),  # was drawn in the last cluster's colour
        ([0.5, 0, 1, 1], "integer cluster indices"),
        ([0, 1], "shape (4,)"),
    ],
)
def test_progress_plot_refuses_bad_indices_in_one_line_before_drawing(idx, words):
    X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]])
    before = len(plt.get_fignums())
    with pytest.raises(ValueError, match=re.escape(words)) as caught:
        plots.plot_progress_kmeans(X, [X[[0, 1]]], np.array(idx))
    assert caught.value.args[0].startswith("idx ") and "\n" not in caught.value.args[0]
    assert len(plt.get_fignums()) == before  # no figure left behind
