"""Map variants that `patch` does not offer, scored as `eval` scores its methods (issue 25's studies).

    python benchmarks/map_variants.py MODEL IMAGE... [--mean M --scale S --rgb --interpolation I]
        [--kernels onehot,gaussian,window,quarter,centre1,mean] [--upsampling bicubic,guided:32:0.01]
        [--targets auto,NAME] [--scorecam] [--masks DIR] [--boxes FILE] [--precision f32|auto]

Every kernel x target x upsampling is one Recipro-CAM variant (softmax scores, the paper's protocol):

* kernels: the 3x3 weights a copy keeps around its position. `onehot`, `gaussian` and `window` are
  `patch --kernel`; `quarter` (one-hot / 4), `centre1` ([[1,2,1],[2,4,2],[1,2,1]] / 4) and `mean` (1/9 each)
  swap the Gaussian kernel's weights while the model is patched, which is why they are a study and not a flag.
* targets: `auto` or a feature map `inspect` lists (an earlier stage gives a finer map through a longer tail).
* upsampling: `bicubic` keeps the native map (the metrics upsample it with PIL's bicubic, as the paper);
  `guided:R:EPS` makes the map on the input grid with `quality.guided.guided_filter` (radius R px,
  regularization EPS on [0, 1] gray levels) of the bicubic map, guided by the photo as the model sees it, as
  `eval --refine guided` does with R one feature cell and EPS 0.01. Such a map is the method's own map, so
  Coherency and Complexity are taken on the input grid for it.

--scorecam adds Score-CAM under each upsampling, so that a filter's gain can be told from the method's.
Prints the mean of each metric per variant as a Markdown table.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from ov_reciprocam.inference.device import precision_config
from ov_reciprocam.inference.explainer import Explainer
from ov_reciprocam.methods import kernels
from ov_reciprocam.photos import imaging
from ov_reciprocam.quality import baselines, guided
from ov_reciprocam.quality import evaluate as ev
from ov_reciprocam.vocabulary import Kernel, PatchOptions, Recipe

# Swapped into the Gaussian kernel's weights while the model is patched.
SWAPPED = {
    "quarter": np.pad(np.full((1, 1), 0.25, np.float32), 1),  # one-hot, scaled
    "centre1": kernels.GAUSSIAN * 4,
    "mean": np.ones((3, 3), np.float32) / 9,
}


def recipro(explainer: Explainer, box: baselines.BlackBox) -> ev.Explain:
    def explain(pixels: np.ndarray, c: int) -> np.ndarray:
        box.images_run += 1
        return explainer.explain([pixels], classes=[c])[0].classes[0].saliency

    return explain


def upsampled(method: ev.Explain, space: ev.InputSpace, spec: str) -> ev.Explain:
    if spec == "bicubic":
        return method
    _, radius, eps = spec.split(":")
    return lambda pixels, c: guided.guided_filter(space.upsample(method(pixels, c)), pixels, int(radius), float(eps))


def build_explainer(model: str, settings: ev.EvalSettings, kernel: str, target: str) -> Explainer:
    patching = PatchOptions.of(score="softmax", target=None if target == "auto" else target)
    common = {"preprocess": settings.recipe, "config": settings.config}
    if kernel not in SWAPPED:
        return Explainer(model, settings.device, patch_options=replace(patching, kernel=Kernel(kernel)), **common)
    saved = kernels.GAUSSIAN
    kernels.GAUSSIAN = SWAPPED[kernel]  # read while the model is patched, in the constructor
    try:
        return Explainer(model, settings.device, patch_options=replace(patching, kernel=Kernel.GAUSSIAN), **common)
    finally:
        kernels.GAUSSIAN = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--mean", type=float, nargs="+")
    parser.add_argument("--scale", type=float, nargs="+")
    parser.add_argument("--rgb", action="store_true", default=None)
    parser.add_argument("--interpolation")
    parser.add_argument("--kernels", default="onehot,gaussian")
    parser.add_argument("--upsampling", default="bicubic")
    parser.add_argument("--targets", default="auto")
    parser.add_argument("--scorecam", action="store_true")
    parser.add_argument("--masks")
    parser.add_argument("--boxes")
    parser.add_argument("--precision", default="f32")
    args = parser.parse_args()
    recipe = Recipe(
        mean=tuple(args.mean) if args.mean else None,
        scale=tuple(args.scale) if args.scale else None,
        rgb=args.rgb,
        interpolation=args.interpolation,
    )
    settings = ev.eval_settings(
        args.model,
        methods="reciprocam",
        config=precision_config(args.precision),
        recipe=recipe,
        masks=Path(args.masks) if args.masks else None,
        boxes=Path(args.boxes) if args.boxes else None,
    )
    evaluator = ev.Evaluator(settings)
    box, space = evaluator.box, evaluator.space
    upsamplings = args.upsampling.split(",")
    variants: dict[str, ev.Explain] = {}
    for kernel, target in itertools.product(args.kernels.split(","), args.targets.split(",")):
        native = recipro(build_explainer(args.model, settings, kernel, target), box)
        for spec in upsamplings:
            name = kernel + ("" if target == "auto" else f" @{target}") + ("" if spec == "bicubic" else f" {spec}")
            variants[name] = upsampled(native, space, spec)
    if args.scorecam:
        score_cam = ev.build_methods(["scorecam"], {}, box, space, 0, 0)["scorecam"]
        for spec in upsamplings:
            variants["scorecam" + ("" if spec == "bicubic" else f" {spec}")] = upsampled(score_cam, space, spec)
    evaluator.methods = variants
    paths = imaging.collect_images(args.images)
    records = []
    for i, path in enumerate(paths, 1):
        records.append(evaluator.evaluate(path))
        print(f"{i}/{len(paths)} {path.name}", flush=True)
    summary = ev.summarize(records, list(variants), settings.protocol)
    print(f"\n{len(paths)} photos, precision {args.precision}, protocol {settings.protocol.value}\n")
    print("| variant | AD % | Del | Ins | Coh | Cpx | ADCC | energy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        energy = f"{s['energy_pointing']:.3f}" if s["energy_pointing"] is not None else "-"
        cells = [f"{s['average_drop']:.1f}", *(f"{s[k]:.3f}" for k in list(ev.METRICS)[2:]), energy]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
