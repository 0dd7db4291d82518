#!/usr/bin/env python3
"""Draw each detection of a patched YOLOX model with its saliency map: why the model put this box here.

    ov-reciprocam patch samples/models/detection/yolox_nano/yolox_nano.onnx -o out/yolox_xai.xml
    python draw_detections.py out/yolox_xai.xml PHOTO OUT_DIR [DEVICE]

A plain OpenVINO app: it imports neither ov_reciprocam nor anything of it. The patched model has two outputs
more than the original: `detections` [B, K, 6] (x1, y1, x2, y2 in the model's input pixels, score, class; rows
with class -1 are padding) and `saliency_map` [B, K, h, w] (detection k's map, in [0, 1], on the copy grid).
The photo goes in as YOLOX takes it (BGR 0..255, scaled to fit 416x416, pasted top-left on grey 114), so boxes
and maps come back in that letterboxed frame and are scaled back by the same factor.
Writes OUT_DIR/NAME_K.jpg per detection and prints: K class score box peak.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

model_path, photo_path, out_dir = sys.argv[1:4]
device = sys.argv[4] if len(sys.argv) > 4 else "CPU"

core = ov.Core()
model = core.read_model(model_path)
_, _, side, _ = model.input(0).get_partial_shape().to_shape()  # [1, 3, 416, 416]
compiled = core.compile_model(model, device, {"INFERENCE_PRECISION_HINT": "f32"})

photo = cv2.imread(photo_path)
scale = min(side / photo.shape[0], side / photo.shape[1])
resized = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)))
canvas = np.full((side, side, 3), 114, np.uint8)
canvas[: resized.shape[0], : resized.shape[1]] = resized
inputs = canvas.transpose(2, 0, 1)[None].astype(np.float32)

result = compiled(inputs)
detections = result[compiled.output("detections")][0]  # [K, 6]
maps = result[compiled.output("saliency_map")][0]  # [K, h, w]

Path(out_dir).mkdir(parents=True, exist_ok=True)
for k, (x1, y1, x2, y2, score, label) in enumerate(detections):
    if label < 0:  # padding: fewer than K detections
        break
    # The map covers the letterboxed input; the photo is its top-left part, 1 / scale times larger.
    frame = cv2.resize(maps[k], (side, side), interpolation=cv2.INTER_LINEAR)
    heat = cv2.resize(frame[: resized.shape[0], : resized.shape[1]], (photo.shape[1], photo.shape[0]))
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    picture = cv2.addWeighted(photo, 0.5, colour, 0.5, 0)
    box = [round(v / scale) for v in (x1, y1, x2, y2)]
    cv2.rectangle(picture, (box[0], box[1]), (box[2], box[3]), (255, 255, 255), 2)
    peak_y, peak_x = np.unravel_index(int(heat.argmax()), heat.shape)
    cv2.imwrite(str(Path(out_dir) / f"{Path(photo_path).stem}_{k}.jpg"), picture)
    print(f"{k} class {int(label)} score {score:.3f} box {box} peak ({peak_x}, {peak_y})", flush=True)
