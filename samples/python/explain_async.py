#!/usr/bin/env python3
"""Explain every photo in a folder, or every frame of a video, with a patched model and AsyncInferQueue.

    python explain_async.py MODEL_XAI.xml FOLDER|VIDEO OUT_DIR [DEVICE]

The model is one `ov-reciprocam patch` wrote (with its preprocessing recipe in rt_info). The app is
an ordinary OpenVINO throughput loop: the only Recipro-CAM part is reading the `saliency_map` output.
Writes OUT_DIR/NAME.png (the top class's map over the picture) and NAME.npy (that map at feature
resolution), and prints NAME, class, score and peak.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

import ov_reciprocam as orc
from ov_reciprocam.inference.scores import probabilities
from ov_reciprocam.model.labels import labels_of
from ov_reciprocam.model.rt_info import PatchInfo
from ov_reciprocam.output import files, pictures
from ov_reciprocam.photos import imaging

model_path, source, out_dir = sys.argv[1:4]
device = sys.argv[4] if len(sys.argv) > 4 else "CPU"

core = ov.Core()
model = core.read_model(model_path)
recipe = orc.Preprocess.from_model(model)  # resize, channel order, mean and scale from rt_info model_info
labels = labels_of(model) or []
info = PatchInfo.read(model)  # which output holds the class scores, and what kind they are
# f32: on AMX CPUs the default bf16 moves normalized maps by a few hundredths.
config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": "f32"}
compiled = core.compile_model(model, device, config)


def frames(source):
    """(name, BGR picture) for each photo of a folder or each frame of a video."""
    if Path(source).is_dir():
        for path in imaging.collect_images([source]):
            yield path.stem, imaging.read_image(path)
        return
    video = cv2.VideoCapture(source)
    ok, frame = video.read()
    index = 0
    while ok:
        yield f"frame_{index:05d}", frame
        ok, frame = video.read()
        index += 1


def completed(request, userdata):
    """Runs on an OpenVINO thread when a request finishes; `userdata` is what start_async was given."""
    name, picture = userdata
    raw = request.get_output_tensor(info.output_index).data.reshape(1, -1)
    scores = probabilities(raw, info.score_kind, info.dequantize)[0]  # a quantized output dequantized
    maps = request.get_tensor("saliency_map").data[0]  # [classes, h, w], by output name
    top = int(np.argmax(scores))
    label = labels[top] if top < len(labels) else f"class_{top}"
    cells = maps[top].astype(np.float32) / (255.0 if maps.dtype == np.uint8 else 1.0)  # u8 if patched --uint8
    heat = recipe.to_image(cells, (picture.shape[1], picture.shape[0]))
    x, y = imaging.peak(heat)
    files.write_png(Path(out_dir) / f"{name}.png", pictures.overlay(picture, heat, f"{label} {scores[top]:.2f}"))
    files.write_npy(Path(out_dir) / f"{name}.npy", cells)
    print(f"{name}: {label} {scores[top]:.4f} peak ({x}, {y})", flush=True)


queue = ov.AsyncInferQueue(compiled)  # as many jobs as the device runs well at once
queue.set_callback(completed)
for name, picture in frames(source):
    queue.start_async({0: recipe(picture)[None]}, (name, picture))
queue.wait_all()
