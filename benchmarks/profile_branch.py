"""Where a patched model's time goes: the saliency branch's ops, and whether the original's ops slowed down.

    python benchmarks/profile_branch.py MODEL [--precision auto|f32] [--runs N] [--top K] [patch options as k=v]

Plain and patched are compiled in one process with PERF_COUNT and run alternately. Each op of the patched
runtime graph is counted as the original's when an original output depends on it, else as the branch's:
friendly names cannot tell them apart, because the tail's clone keeps the original's names and the plugin
renames one of each pair with a suffix (the clone, as often as not, keeps the plain name).
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.methods.saliency import SALIENCY, SALIENCY_CLASSES
from ov_reciprocam.model.reshape import set_batch
from ov_reciprocam.quality.bench import random_input


def original_names(compiled: ov.CompiledModel) -> set[str]:
    """Friendly names of the runtime ops that an output other than the saliency outputs depends on."""
    # The runtime graph's Results keep no tensor names; they come in the compiled model's output order.
    results = compiled.get_runtime_model().get_results()
    saliency = {SALIENCY, SALIENCY_CLASSES}
    outputs = [r for r, o in zip(results, compiled.outputs, strict=True) if not saliency & o.get_names()]
    seen, stack = set(), [r.input_value(0).get_node() for r in outputs]
    while stack:
        node = stack.pop()
        if node.get_friendly_name() not in seen:
            seen.add(node.get_friendly_name())
            stack += [v.get_node() for v in node.input_values()]
    return seen


def profile(compiled: ov.CompiledModel, image: np.ndarray, runs: int) -> tuple[dict[str, float], dict[str, str]]:
    request = compiled.create_infer_request()
    for _ in range(10):
        request.infer({0: image})
    times: dict[str, float] = collections.defaultdict(float)
    kinds = {}
    for _ in range(runs):
        request.infer({0: image})
        for p in request.profiling_info:
            times[p.node_name] += p.real_time.total_seconds() * 1e6 / runs
            kinds[p.node_name] = f"{p.node_type} {p.exec_type}"
    return times, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("options", nargs="*", help="patch options, e.g. top_k=5 kernel=gaussian")
    parser.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16", "f16"])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    plain = orc.read_model(args.model)
    if plain.get_parameters()[0].get_partial_shape()[0].is_dynamic:
        set_batch(plain, 1)
    options = dict(o.split("=", 1) for o in args.options)
    options = {k: int(v) if v.isdigit() else v for k, v in options.items()}
    patched = orc.patch(plain, **options)
    config = {"PERF_COUNT": "YES", "PERFORMANCE_HINT": "LATENCY"}
    if args.precision != "auto":
        config["INFERENCE_PRECISION_HINT"] = args.precision
    core = ov.Core()
    compiled = {name: core.compile_model(m, "CPU", config) for name, m in (("plain", plain), ("patched", patched))}
    image = random_input(plain)
    plain_times, _ = profile(compiled["plain"], image, args.runs)
    times, kinds = profile(compiled["patched"], image, args.runs)
    ours = original_names(compiled["patched"])
    branch = {k: v for k, v in times.items() if k not in ours}
    original = sum(v for k, v in times.items() if k in ours)
    print(f"plain ops {sum(plain_times.values()):.0f} us; patched: original ops {original:.0f} us, branch ops "
          f"{sum(branch.values()):.0f} us ({len(branch)} ops)")  # fmt: skip
    for name, us in sorted(branch.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {us:8.1f} us  {kinds[name]:<40} {name[:60]}")


if __name__ == "__main__":
    main()
