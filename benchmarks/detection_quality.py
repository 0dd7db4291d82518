"""Per-detection Recipro-CAM maps next to D-RISE on the three sample detectors: pointing, energy, deletion, time.

    python benchmarks/detection_quality.py [--detectors yolox ultralight blazeface] [--methods recipro drise]
                                           [--masks 1000] [--steps 50] [--json FILE] [--reuse FILE]

For every detection a plain f32 run of each detector makes on the eleven photos of samples/images and
samples/openimages, two maps. Recipro-CAM's is the brute-force reference's (tests/support/detection_reference.py,
the definition), timed on the model `ov_reciprocam.patch` makes (one inference, every copy in one batch), which is
checked to give the same map; D-RISE's uses `--masks` masks (`ov_reciprocam.quality.drise`, the paper's 16 x 16
cells, p = 0.5). Each map, on the input frame, is scored by `ov_reciprocam.quality.detection_metrics`: its peak in
the detection's box, its energy in the box, and the deletion and insertion AUC of the detection's D-RISE
similarity. Times are wall-clock seconds per photo (every detection's map at once) and per map. `--reuse` takes
the rows of an earlier `--json` for the detectors and methods not run now. Prints markdown; not run in CI.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import openvino as ov

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ov_reciprocam.quality import detection_eval, drise  # noqa: E402
from ov_reciprocam.quality import detection_metrics as dm  # noqa: E402
from ov_reciprocam.quality.detection_decode import Decoding  # noqa: E402
from ov_reciprocam.vocabulary import DetectorKind  # noqa: E402
from tests.support import detection_reference as ref  # noqa: E402

PHOTOS = [
    "images/both.png",
    "images/cheetah_person.jpg",
    "images/horses.jpg",
    "images/puppies.jpg",
    "openimages/pets.jpg",
    "openimages/grace_hopper.png",
    "openimages/kite_and_cold.jpg",
    "openimages/bird.png",
    "openimages/cat.png",
    "openimages/hot_dog.jpg",
    "openimages/parrot.jpg",
]
SETUPS = {
    "yolox": (ref.YOLOX, Decoding(DetectorKind.OBJECTNESS)),
    "ultralight": (ref.ULTRALIGHT, Decoding(DetectorKind.DECODED)),
    "blazeface": (ref.BLAZEFACE, Decoding(DetectorKind.ANCHORED, ((16, 16, 2), (8, 8, 6)))),
}
METHODS = ("recipro", "drise")
AGREE = 1e-3  # the in-graph map and the reference's, max |difference|: the same map
MEDIANS = ("energy", "deletion", "insertion")
Maps = Callable[[np.ndarray, list[ref.Detection]], np.ndarray]  # (input, detections) -> [K, h, w]


@dataclass
class Row:
    detector: str
    photo: str
    label: int
    score: float
    method: str
    hit: bool
    energy: float
    deletion: float
    insertion: float
    photo_seconds: float
    detections: int
    in_graph_agrees: bool | None = None  # Recipro-CAM: the patched model's map is the reference's


def timed(make: Maps, x: np.ndarray, found: list[ref.Detection], warm: bool) -> tuple[np.ndarray, float]:
    if warm:  # the first inference of a compiled model allocates; D-RISE's thousand inferences absorb it
        make(x, found)
    start = time.perf_counter()
    maps = make(x, found)
    return maps, time.perf_counter() - start


def in_graph(detector: ref.Detector) -> tuple[Maps | None, str]:
    """The patched model's maps, when `patch` explains this detector; else None and why."""
    import ov_reciprocam as orc

    try:
        compiled = ov.Core().compile_model(orc.patch(detector.path), "CPU", ref.CONFIG)
    except Exception as exc:  # a benchmark: whatever stops the patch, the reference still measures
        return None, f"patch: {str(exc).splitlines()[0]}"
    names = {o.get_any_name(): o for o in compiled.outputs}
    if not {"detections", "saliency_map"} <= names.keys():
        return None, f"the patched model's outputs are {sorted(names)}"

    def maps(x: np.ndarray, found: list[ref.Detection]) -> np.ndarray:
        result = compiled(x)
        boxes = np.asarray(result[names["detections"]])[0, : len(found), :4]
        if not np.allclose(boxes, [d.box for d in found], atol=2.0):
            raise SystemExit(f"{detector.name}: the patched model's detections are not the plain run's")
        return np.asarray(result[names["saliency_map"]])[0, : len(found)]

    return maps, "in-graph"


def scored(
    black_box: drise.OpenVinoDetector, x: np.ndarray, found: list[ref.Detection], maps: np.ndarray, steps: int
) -> list[tuple[bool, float, float, float]]:
    """(hit, energy, deletion AUC, insertion AUC) per detection, as `ov-reciprocam eval` scores a detector's maps."""
    proposals = black_box.proposals(x)[0]
    rows = []
    for d, native in zip(found, maps, strict=True):
        metrics = detection_eval.scores(black_box, x, native, d.box, drise.Target.of(proposals, d.anchor), steps)
        rows.append((metrics["peak_in_box"], *(metrics[k] for k in ("energy_in_box", "deletion_auc", "insertion_auc"))))
    return rows


def plain_seconds(detector: ref.Detector, x: np.ndarray) -> float:
    request = ref.compiled(detector).create_infer_request()
    request.infer(x)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        request.infer(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def recipro_cam(detector: ref.Detector) -> Callable[[np.ndarray, list[ref.Detection]], tuple[np.ndarray, float, list]]:
    """Recipro-CAM's maps, the reference's (the definition), timed on the patched model when `patch` makes one
    (one inference: all copies in one batch), else on the reference (its copies one at a time); with whether
    each in-graph map is the reference's."""
    patched, why = in_graph(detector)
    if patched is None:
        print(f"{detector.name}: no in-graph model ({why}); the reference is timed", file=sys.stderr)

    def run(x: np.ndarray, found: list[ref.Detection]) -> tuple[np.ndarray, float, list]:
        maps = ref.brute_force_maps(detector, x, found)
        if patched is None:
            return (
                maps,
                timed(lambda x, f: ref.brute_force_maps(detector, x, f), x, found, warm=False)[1],
                [None] * len(found),
            )
        ours, seconds = timed(patched, x, found, warm=True)
        return maps, seconds, [bool(np.abs(a - b).max() <= AGREE) for a, b in zip(ours, maps, strict=True)]

    return run


def measure(name: str, methods: list[str], masks: int, steps: int) -> tuple[list[Row], float]:
    detector, decoding = SETUPS[name]
    black_box = drise.OpenVinoDetector.build(detector.path, decoding, config=ref.CONFIG)
    recipro = recipro_cam(detector)

    def with_drise(x: np.ndarray, found: list[ref.Detection]) -> tuple[np.ndarray, float, list]:
        targets = [drise.Target.of(black_box.proposals(x)[0], d.anchor) for d in found]
        maps, seconds = timed(lambda x, f: drise.drise(black_box, x, targets, masks=masks), x, found, warm=False)
        return maps, seconds, [None] * len(found)

    makers = {"recipro": ("Recipro-CAM", recipro), "drise": (f"D-RISE-{masks}", with_drise)}
    rows, plain = [], []
    for photo in PHOTOS:
        bgr = ref.read_photo(ref.SAMPLES / photo)
        x = detector.prepare(bgr)
        found = ref.detections(detector, bgr)
        plain.append(plain_seconds(detector, x))
        for method, make in (makers[m] for m in methods if found):
            maps, seconds, agree = make(x, found)
            for d, metrics, same in zip(found, scored(black_box, x, found, maps, steps), agree, strict=True):
                rows.append(Row(name, photo, d.label, d.score, method, *metrics, seconds, len(found), same))
            print(f"{name} {photo}: {method} {seconds:.2f} s for {len(found)} maps", file=sys.stderr)
    return rows, statistics.median(plain)


def table(rows: list[Row], plain: dict[str, float]) -> str:
    lines = [
        "| detector | method | maps | in-graph = reference | peak in box | energy in box (median) "
        "| deletion AUC (median, lower better) | insertion AUC (median) | s per photo (median) | s per map (median) "
        "| x plain |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r.detector for r in rows):
        for method in dict.fromkeys(r.method for r in rows if r.detector == name):
            mine = [r for r in rows if r.detector == name and r.method == method]
            per_photo = statistics.median({r.photo: r.photo_seconds for r in mine}.values())
            per_map = statistics.median(r.photo_seconds / r.detections for r in mine)
            energy, deletion, insertion = (statistics.median(getattr(r, k) for r in mine) for k in MEDIANS)
            checked = [r.in_graph_agrees for r in mine if r.in_graph_agrees is not None]
            same = f"{sum(checked)} / {len(checked)}" if checked else ""
            lines.append(
                f"| {name} | {method} | {len(mine)} | {same} | {sum(r.hit for r in mine)} / {len(mine)} "
                f"| {energy:.2f} | {deletion:.3f} | {insertion:.3f} | {per_photo:.2f} | {per_map:.2f} "
                f"| {per_photo / plain[name]:.0f} |"
            )
    return "\n".join(lines)


def method_key(method: str) -> str:
    """A table's method name ("D-RISE-1000") as `--methods` names it ("drise")."""
    return "recipro" if method == "Recipro-CAM" else "drise"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--masks", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=dm.STEPS)
    parser.add_argument("--json", type=Path, help="also write every detection's row here")
    parser.add_argument("--reuse", type=Path, help="rows of an earlier --json run, for the methods not run now")
    args = parser.parse_args()
    rows, plain = [], {}
    if args.reuse:
        earlier = json.loads(args.reuse.read_text())
        plain |= earlier["plain"]
        rerun = {(d, m) for d in args.detectors for m in args.methods}
        rows += [Row(**r) for r in earlier["rows"] if (r["detector"], method_key(r["method"])) not in rerun]
    for name in args.detectors:
        found, plain[name] = measure(name, args.methods, args.masks, args.steps)
        rows += found
        if args.json:  # after each detector: a long run keeps what it measured
            args.json.write_text(json.dumps({"plain": plain, "rows": [asdict(r) for r in rows]}))
    rows.sort(key=lambda r: (list(SETUPS).index(r.detector), r.method != "Recipro-CAM"))
    print(table(rows, plain))


if __name__ == "__main__":
    main()
