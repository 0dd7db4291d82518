"""Photos of any kind for models of any channel count: grey, BGRA and 16-bit in; wrong arrays refused in one line."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from reference import CONFIG

import ov_reciprocam as orc


def _model(channels: int) -> ov.Model:
    """[N, channels, 32, 32] -> two strided convs -> GAP -> linear -> softmax."""
    rng = np.random.default_rng(channels)
    image = ops.parameter([-1, channels, 32, 32], ov.Type.f32, name="image")

    def conv(x, c_out, c_in):
        kernel = rng.normal(0, np.sqrt(2.0 / (9 * c_in)), (c_out, c_in, 3, 3)).astype(np.float32)
        return ops.relu(ops.convolution(x, ops.constant(kernel), [2, 2], [1, 1], [1, 1], [1, 1]))

    x = conv(conv(image, 8, channels), 16, 8)
    pooled = ops.reduce_mean(x, ops.constant(np.array([2, 3], np.int64)), keep_dims=False)
    logits = ops.matmul(pooled, ops.constant(rng.normal(0, 1.0, (16, 5)).astype(np.float32)), False, False)
    return ov.Model([ops.result(ops.softmax(logits, 1))], [image])


def _explainer(channels: int) -> orc.Explainer:
    recipe = orc.Preprocess(32, 32, "NCHW", mean=(127.5,), scale=(64.0,), channels=channels)
    return orc.Explainer(_model(channels), preprocess=recipe, config=CONFIG)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    bgr = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (7, 7), 2)
    alpha = np.linspace(0, 255, 64, dtype=np.uint8)[None, :].repeat(48, axis=0)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(folder / "bgr.png"), bgr)
    cv2.imwrite(str(folder / "grey.png"), grey)
    cv2.imwrite(str(folder / "bgra.png"), np.dstack([bgr, alpha]))
    cv2.imwrite(str(folder / "grey16.png"), grey.astype(np.uint16) * 257)
    return folder, bgr, grey, alpha


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_every_photo_kind_on_every_channel_count(channels, photos):
    folder, bgr, grey, alpha = photos
    explainer = _explainer(channels)
    results = explainer.explain(sorted(folder.glob("*.png")), top_k=1)
    assert [r.image.shape for r in results] == [(48, 64, 3)] * 4  # overlays are drawn on BGR
    by_name = {r.source.rsplit("/", 1)[-1]: r for r in results}
    # A 16-bit file is the 8-bit photo it scales to; a grey array is the grey file.
    np.testing.assert_allclose(by_name["grey16.png"].scores, by_name["grey.png"].scores, rtol=1e-6)
    (array,) = explainer.explain([grey], top_k=1)
    np.testing.assert_allclose(array.scores, by_name["grey.png"].scores, rtol=1e-6)
    (sixteen,) = explainer.explain([bgr.astype(np.uint16) * 257], top_k=1)
    np.testing.assert_allclose(sixteen.scores, by_name["bgr.png"].scores, rtol=1e-6)
    if channels == 4:  # the alpha channel reaches a 4-channel model
        assert not np.allclose(by_name["bgra.png"].scores, by_name["bgr.png"].scores)
        (with_alpha,) = explainer.explain([np.dstack([bgr, alpha])], top_k=1)
        np.testing.assert_allclose(with_alpha.scores, by_name["bgra.png"].scores, rtol=1e-6)
    else:  # BGR models see BGRA photos without their alpha
        np.testing.assert_allclose(by_name["bgra.png"].scores, by_name["bgr.png"].scores, rtol=1e-6)
    assert all(r.classes[0].saliency.shape == (8, 8) for r in results)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((32, 32, 3), np.int64), "must be uint8, uint16 or float pixels"),
        (np.zeros((32, 32, 2), np.uint8), r"must be \[H, W\] \(grey\), \[H, W, 3\] \(BGR\) or \[H, W, 4\]"),
        (np.zeros((4, 32, 32, 3), np.uint8), r"got \(4, 32, 32, 3\)"),
        ([[0, 1], [2, 3]], "must be a numpy array or a path, got list"),
    ],
    ids=["int64", "two_channels", "a_batch", "a_list"],
)
def test_wrong_arrays_are_refused_in_one_line(array, message):
    with pytest.raises(orc.ReciproCamError, match=message):
        _explainer(3).explain([array])


def test_explain_cli_takes_grey_bgra_and_16_bit_files(photos, tmp_path):
    folder = photos[0]
    xml = tmp_path / "model.xml"
    orc.save(_model(3), xml)
    done = subprocess.run(
        [sys.executable, "-m", "ov_reciprocam", "explain", xml, folder, "-o", tmp_path / "out", "--raw-pixels"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "explained 4 images" in done.stdout


def _whole_map_peak(saliency: np.ndarray) -> tuple[int, int]:
    """The peak as first defined, over every pixel: the hottest plateau's pixel nearest its centroid."""
    top = saliency.max()
    ys, xs = np.nonzero(saliency >= top - 1e-6 * max(abs(float(top)), 1.0))
    i = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(xs[i]), int(ys[i])


def test_peak_is_the_whole_maps_peak():
    """`imaging.peak` reads only the rows and columns that hold the plateau: the same pixel as over the whole map,
    on bilinear upsamplings with single peaks, border plateaus, two equal cells far apart, flat maps."""
    from ov_reciprocam.photos.imaging import peak

    rng = np.random.default_rng(7)
    for case in range(200):
        h, w = rng.integers(2, 9, 2)
        grid = rng.random((h, w)).astype(np.float32)
        if case % 4 == 1:
            grid[0, :] = grid.max()  # a plateau along the border
        if case % 4 == 2:
            grid[0, 0] = grid[-1, -1] = grid.max() + 0.5  # two peaks, far apart
        if case % 20 == 3:
            grid[:] = 0.25
        size = (int(rng.integers(10, 400)), int(rng.integers(10, 400)))
        up = cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)
        assert peak(up) == _whole_map_peak(up), case
        assert peak(up.T) == _whole_map_peak(up.T), case  # a strided view, as maps sliced from a stack are
