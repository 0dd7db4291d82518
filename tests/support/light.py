"""The nine ONNX "light" models shipped in the onnx wheel, with random weights put back in.

The wheel's light models fill every weight with one value (ConstantOfShape 0.02), so all 1000
classes score the same and every softmax map is flat: an exactness test on them could not fail.
Replacing each fill with seeded He-normal weights (rank >= 2) and positive vectors (biases,
batch-norm statistics) keeps the architecture and makes the classes differ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
NAMES = (
    "bvlc_alexnet",
    "densenet121",
    "inception_v1",
    "inception_v2",
    "resnet50",
    "shufflenet",
    "squeezenet",
    "vgg19",
    "zfnet512",
)


def reweighted(name: str, out_dir: Path, seed: int = 0) -> Path:
    model = onnx.load(LIGHT_DIR / f"light_{name}.onnx")
    rng = np.random.default_rng(seed)
    shapes = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    kept = []
    for node in model.graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in shapes:
            kept.append(node)
            continue
        shape = tuple(int(s) for s in shapes[node.input[0]])
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
        else:
            value = rng.uniform(0.5, 1.5, shape)
        model.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    path = out_dir / f"{name}.onnx"
    onnx.save(model, path)
    return path


# Op type that produces the target, and its (C, H, W). pool5 for AlexNet/VGG/ZFNet, fire9 for SqueezeNet.
EXPECTED = {
    "bvlc_alexnet": ("MaxPool", (256, 6, 6)),
    "densenet121": ("Relu", (1024, 7, 7)),
    "inception_v1": ("Concat", (1024, 6, 6)),
    "inception_v2": ("Concat", (1024, 7, 7)),
    "resnet50": ("Relu", (2048, 7, 7)),
    "shufflenet": ("Relu", (544, 7, 7)),
    "squeezenet": ("Concat", (512, 13, 13)),
    "vgg19": ("MaxPool", (512, 7, 7)),
    "zfnet512": ("MaxPool", (512, 6, 6)),
}
