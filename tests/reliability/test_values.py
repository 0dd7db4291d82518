"""Values checked where they enter: recipes, layouts, labels, photos, options (CLI and API)."""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from functools import cache
from pathlib import Path

import cv2
import heads
import numpy as np
import pytest
from paths import DOG_MODEL
from table import RAW, Call, Row, run, table_tests

import ov_reciprocam as orc
from ov_reciprocam.model.rt_info import MEAN_VALUES, REVERSE_INPUT_CHANNELS, SCALE_VALUES, write_entries
from ov_reciprocam.output.explain_files import Outputs
from ov_reciprocam.photos import imaging

DOG_RECIPE = ("--mean", "127.5", "--scale", "127.5", "--rgb")
HUGE = 20000  # px a side: 400 megapixels, over the 100 allowed by default


def huge_png(path: Path, side: int = HUGE) -> Path:
    """A real one-colour PNG, side x side: 1-bit grey rows deflate to ~50 KB, written in a fraction of a second
    (cv2.imencode would first need the whole side x side array)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    deflate = zlib.compressobj(9)
    row = bytes(1 + (side + 7) // 8)  # filter byte 0, then the row's bits
    pixels = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def huge_jpeg(path: Path) -> Path:
    """A small JPEG whose frame header says HUGE x HUGE: refused from the header, never decoded."""
    data = bytearray(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", HUGE, HUGE)
    path.write_bytes(bytes(data))
    return path


def labels_file(path: Path, count: int = 40) -> Path:
    path.write_text("".join(f"class {i}\n" for i in range(count)))
    return path


def bad_rt_info(folder: Path) -> Path:
    """The dog model with a recipe in rt_info whose scale is 0."""
    model = orc.read_model(DOG_MODEL)
    write_entries(model, {MEAN_VALUES: "127.5", SCALE_VALUES: "0", REVERSE_INPUT_CHANNELS: "True"})
    return orc.save(model, folder / "bad_rt.xml")


def beside_many_labels(folder: Path) -> Path:
    """The dog model in a folder whose labels.txt lists 40 classes."""
    for suffix in (".xml", ".bin"):
        shutil.copy(DOG_MODEL.with_suffix(suffix), folder / f"dog{suffix}")
    labels_file(folder / "labels.txt")
    return folder / "dog.xml"


@cache
def explainer(model: Path) -> orc.Explainer:
    return orc.Explainer(model)


def photo(p: dict[str, Path]) -> np.ndarray:
    return imaging.read_image(p["photo"])


def explanation(p: dict[str, Path]) -> orc.Explanation:
    return explainer(p["dog_xai"]).explain(photo(p))[0]


ROWS = [
    # 1. recipe numbers
    Row(
        "scale zero",
        ("explain", "{dog}", "{photo}", "--mean", "127.5", "--scale", "0", "--rgb", "-o", "{tmp}/out"),
        says=r"^Error: --scale must not be 0 \(pixels are divided by it\), got '0'$",
    ),
    Row(
        "scale nan",
        ("explain", "{dog}", "{photo}", "--mean", "127.5", "--scale", "nan", "--rgb", "-o", "{tmp}/out"),
        says=r"^Error: --scale must be finite, got 'nan'$",
    ),
    Row(
        "mean inf",
        ("patch", "{dog}", "--mean", "inf", "--scale", "127.5", "-o", "{tmp}/out.xml"),
        says=r"^Error: --mean must be finite, got 'inf'$",
    ),
    Row(
        "two means",
        ("explain", "{dog}", "{photo}", "--mean", "127.5,3", "--scale", "127.5", "-o", "{tmp}/out"),
        says=r"^Error: --mean must be 1 number \(every channel\) or 3 \(one per channel\), got '127.5,3'$",
    ),
    Row(
        "rt_info scale zero",
        ("explain", "{tmp}/bad_rt.xml", "{photo}", "-o", "{tmp}/out"),
        says=r"^Error: the model's rt_info says scale_values '0', but the scale must not be 0 .*: give --scale to "
        r"override it$",
        make=bad_rt_info,
    ),
    Row(
        "rt_info scale zero, overridden",
        ("explain", "{tmp}/bad_rt.xml", "{photo}", "--scale", "127.5", "-o", "{tmp}/out"),
        says=r"explained 1 images",
        code=0,
        make=bad_rt_info,
    ),
    # 2. a layout the graph contradicts
    Row(
        "target layout against the graph",
        ("explain", "{dog}", "{photo}", *DOG_RECIPE, "--target-layout", "NHWC", "-o", "{tmp}/out"),
        says=r"^Error: the graph reads the target '\S+' \[\?,1280,5,5\] as NCHW \(the \w+ '\S+' .+\); "
        r"--target-layout NHWC contradicts it; leave it out",
    ),
    Row(
        "target layout against the graph, patch",
        ("patch", "{dog}", *DOG_RECIPE, "--target-layout", "NHWC", "-o", "{tmp}/out.xml"),
        says=r"as NCHW .*--target-layout NHWC contradicts it",
        check=lambda tmp, done: not (tmp / "out.xml").exists() or pytest.fail("a model was written"),
    ),
    Row(
        "target layout as the graph says",
        ("patch", "{dog}", *DOG_RECIPE, "--target-layout", "NCHW", "-o", "{tmp}/out.xml"),
        says=r"target .*NCHW, 1280x5x5",
        code=0,
    ),
    # 3. labels counted against classes in patch
    Row(
        "40 labels for 19 classes",
        ("patch", "{dog}", *DOG_RECIPE, "--labels", "{tmp}/labels.txt", "-o", "{tmp}/out.xml"),
        says=r"^Error: --labels has 40 class names for a model with 19 classes: it needs one per class, in class "
        r"order$",
        make=lambda tmp: labels_file(tmp / "labels.txt"),
        check=lambda tmp, done: not (tmp / "out.xml").exists() or pytest.fail("a model was written"),
    ),
    Row(
        "40 labels beside the model",
        ("patch", "{tmp}/dog.xml", *DOG_RECIPE, "-o", "{tmp}/out.xml"),
        says=r"^Error: the labels.txt beside \S+dog.xml has 40 class names for a model with 19 classes: .*; give "
        r"--labels to override them$",
        make=beside_many_labels,
    ),
    Row(
        "labels beside the model, overridden",
        ("patch", "{tmp}/dog.xml", *DOG_RECIPE, "--labels", "{labels}", "-o", "{tmp}/out.xml"),
        says=r"classes   19",
        code=0,
        make=beside_many_labels,
    ),
    # The CLI's ranges, as click checks them: one line, exit 2 as click's usage errors.
    Row("top-k 0", ("explain", "{dog_xai}", "{photo}", "--top-k", "0", "-o", "{tmp}/out"), says=r"--top-k.*1", code=2),
    Row("alpha 5", ("explain", "{dog_xai}", "{photo}", "--alpha", "5", "-o", "{tmp}/out"), says=r"--alpha", code=2),
    Row(
        "batch size 0",
        ("explain", "{dog_xai}", "{photo}", "--batch-size", "0", "-o", "{tmp}/out"),
        says=r"--batch-size",
        code=2,
    ),
]

CALLS = [
    # 1. recipe numbers
    Call("Recipe scale zero", lambda p, tmp: orc.Recipe(scale=(0.0,)), says=r"^`scale` must not be 0"),
    Call("Recipe scale nan", lambda p, tmp: orc.Recipe(scale=(float("nan"),)), says=r"^`scale` must be finite"),
    Call("Recipe two means", lambda p, tmp: orc.Recipe(mean=(1.0, 2.0)), says=r"^`mean` must be 1 number .* or 3"),
    Call("Recipe four scales", lambda p, tmp: orc.Recipe(scale=[1, 2, 3, 4]), says=r"^`scale` must be 1 number"),
    Call("Recipe mean text", lambda p, tmp: orc.Recipe(mean="grey"), says=r"^`mean` must be 1 number .*'grey'"),
    Call("Preprocess scale zero", lambda p, tmp: orc.Preprocess(32, 32, scale=(0.0,)), says=r"^`scale` must not be 0"),
    Call(
        "Preprocess mean inf",
        lambda p, tmp: orc.Preprocess(32, 32, mean=(0.0, float("inf"), 0.0)),
        says=r"^`mean` must be finite, got '0.0 inf 0.0'$",
    ),
    Call(
        "rt_info scale zero",
        lambda p, tmp: orc.Explainer(bad_rt_info(tmp)),
        says=r"^the model's rt_info says scale_values '0', .*: give `scale` to override it$",
    ),
    # 2. a layout the graph contradicts (NCHW by a reduction; NHWC through a Concat to a transpose)
    Call(
        "target layout against the graph",
        lambda p, tmp: orc.patch(p["dog"], target_layout="NHWC"),
        says=r"as NCHW \(the .+\); `target_layout` NHWC contradicts it",
    ),
    Call(
        "target layout against an NHWC graph",
        lambda p, tmp: orc.patch(heads.concat_nhwc(), target_layout="NCHW"),
        says=r"as NHWC \(the .+\); `target_layout` NCHW contradicts it",
    ),
    # 3. labels
    Call(
        "patch with 40 labels",
        lambda p, tmp: orc.patch(p["dog"], labels=[f"c{i}" for i in range(40)]),
        says=r"^`labels` has 40 class names for a model with 19 classes",
    ),
    Call(
        "Explainer with 40 labels",
        lambda p, tmp: orc.Explainer(p["dog_xai"], labels=[f"c{i}" for i in range(40)]),
        says=r"^`labels` has 40 class names for a model with 19 classes",
    ),
    # 4. one path is one photo: a missing one is named whole, not by its first character
    Call(
        "explain one missing path",
        lambda p, tmp: explainer(p["dog_xai"]).explain(str(tmp / "missing.jpg")),
        says=r"^image not found: \S+missing\.jpg$",
    ),
    Call(
        "explain_paths one missing path",
        lambda p, tmp: orc.explain_paths(explainer(p["dog_xai"]), str(tmp / "missing.jpg"), tmp / "out"),
        says=r"^no such file or folder: \S+missing\.jpg$",
    ),
    Call("explain a number", lambda p, tmp: explainer(p["dog_xai"]).explain(7), says=r"got int$"),
    # 5. options the CLI checks
    Call(
        "batch size zero",
        lambda p, tmp: orc.Explainer(p["dog_xai"], batch_size=0),
        says=r"^`batch_size` must be a whole number, 1 or more; got 0$",
    ),
    Call(
        "top_k zero",
        lambda p, tmp: explainer(p["dog_xai"]).explain(photo(p), top_k=0),
        says=r"^`top_k` must be a whole number, 1 or more; got 0$",
    ),
    Call(
        "top_k negative",
        lambda p, tmp: explainer(p["dog_xai"]).explain(photo(p), top_k=-5),
        says=r"^`top_k` must be a whole number, 1 or more; got -5$",
    ),
    Call(
        "threshold above 1",
        lambda p, tmp: explainer(p["dog_xai"]).explain(photo(p), threshold=1.5),
        says=r"^`threshold` must be a number in \[0, 1\], got 1.5$",
    ),
    Call(
        "threshold nan",
        lambda p, tmp: explainer(p["dog_xai"]).explain(photo(p), threshold=float("nan")),
        says=r"^`threshold` must be a number in \[0, 1\], got nan$",
    ),
    Call(
        "overlay alpha 5",
        lambda p, tmp: orc.overlay_of(explanation(p), explanation(p).classes[0].class_id, alpha=5),
        says=r"^`alpha` must be a number in \[0, 1\], got 5$",
    ),
    Call("Outputs top_k zero", lambda p, tmp: Outputs(str(tmp), top_k=0), says=r"^`top_k` must be a whole number"),
    Call("Outputs alpha 5", lambda p, tmp: Outputs(str(tmp), alpha=5), says=r"^`alpha` must be a number in \[0, 1\]"),
    Call(
        "Outputs threshold -0.1",
        lambda p, tmp: Outputs(str(tmp), threshold=-0.1),
        says=r"^`threshold` must be a number in \[0, 1\]",
    ),
    # 6. a float photo's range is read or refused, never guessed
    Call(
        "float photo in [0, 1]",
        lambda p, tmp: explainer(p["dog_xai"]).explain([photo(p).astype(np.float32) / 255]),
        says=r"^a float photo is read as pixels in \[0, 255\], .*: multiply it by 255 \(or pass uint8\)$",
    ),
    Call(
        "float photo with NaN",
        lambda p, tmp: explainer(p["dog_xai"]).explain(np.full((64, 64, 3), np.nan, np.float32)),
        says=r"^a float photo has NaN or infinite pixels",
    ),
    # 7. a huge photo is refused from its header
    Call(
        "huge PNG",
        lambda p, tmp: explainer(p["dog_xai"]).explain(huge_png(tmp / "huge.png")),
        says=r"is 20000x20000 \(400 megapixels\), over the limit of 100 megapixels .*OV_RECIPROCAM_MAX_PIXELS=",
    ),
    Call(
        "huge JPEG",
        lambda p, tmp: explainer(p["dog_xai"]).explain(huge_jpeg(tmp / "huge.jpg")),
        says=r"is 20000x20000 \(400 megapixels\), over the limit of 100 megapixels",
    ),
]


test_cli, test_api = table_tests(ROWS, CALLS)


def test_one_path_is_one_photo(places, tmp_path):
    """A str (or a Path) given where a list is expected is one photo, never its characters."""
    dog = explainer(Path(places["dog_xai"]))
    one = places["photo"]
    assert [e.source for e in dog.explain(one)] == [one]
    assert len(dog.explain(Path(one))) == 1 == len(dog.explain(imaging.read_image(one)))
    run = orc.explain_paths(dog, one, tmp_path / "out")
    assert [r["image"] for r in run.records] == [one]
    assert imaging.collect_images(Path(one)) == [Path(one)]


def test_float_photos_in_0_255_are_taken(places):
    dog = explainer(Path(places["dog_xai"]))
    pixels = imaging.read_image(places["photo"])
    as_float = dog.explain(pixels.astype(np.float32))[0]
    assert as_float.predictions[0].class_id == dog.explain(pixels)[0].predictions[0].class_id


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp", ".bmp"])
def test_header_size_is_the_decoded_size(suffix):
    photo = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    assert imaging.header_size(cv2.imencode(suffix, photo)[1].tobytes()) == (53, 37)


def test_cli_skips_a_huge_photo_saying_the_limit(places, tmp_path):
    """explain lists an unreadable photo and goes on, so the limit is said on its `skipped:` line."""
    row = Row(
        "huge",
        ("explain", "{dog_xai}", "{tmp}/huge.png", "-o", "{tmp}/out"),
        "",
        make=lambda tmp: huge_png(tmp / "huge.png"),
    )
    done = run(row, places, tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1 and not [r for r in RAW if r in done.stdout + done.stderr]
    skipped = [line for line in lines if line.startswith("skipped:")]
    assert len(skipped) == 1 and re.search(
        r"20000x20000 \(400 megapixels\), over the limit of 100 megapixels .*OV_RECIPROCAM_MAX_PIXELS=400000000$",
        skipped[0],
    )
    assert lines[-1] == "Error: 1 of 1 images could not be read (see results.json)"


@pytest.mark.parametrize(
    ("limit", "says"),
    [("1000", r"over the limit of 0.001 megapixels"), ("many", r"OV_RECIPROCAM_MAX_PIXELS must be a whole number")],
)
def test_the_pixel_limit_is_set_by_environment(places, tmp_path, monkeypatch, limit, says):
    monkeypatch.setenv(imaging.MAX_PIXELS_VARIABLE, limit)
    with pytest.raises(orc.ReciproCamError, match=says):
        imaging.read_image(places["photo"])
    monkeypatch.setenv(imaging.MAX_PIXELS_VARIABLE, "50000000")
    assert imaging.read_image(places["photo"]).size > 0
