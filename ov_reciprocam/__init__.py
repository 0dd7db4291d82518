"""ov-reciprocam: Recipro-CAM saliency maps inside OpenVINO models.

import ov_reciprocam as orc
model = orc.patch("model.onnx", recipe=orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True))
orc.save(model, "model_xai.xml")                    # IR, with a `saliency_map` output [B, classes, H, W]
explainer = orc.Explainer("model_xai.xml")
results = explainer.explain(["photo.jpg"])          # predictions and maps, in memory
picture = orc.overlay_of(results[0], results[0].classes[0].class_id)  # a class's map on its photo, BGR
run = orc.explain_paths(explainer, ["photos/"], orc.Outputs("out", top_k=1))  # folders and globs, as `explain` writes
picture = orc.draw_map(frame, compiled(batch)["saliency_map"][0, c])  # your own inference, a map on a BGR frame
detector = orc.DetectorExplainer("yolox.onnx", preprocess=orc.Recipe(raw_pixels=True, resize="fit", pad_value=114))
found = detector.explain(["photo.jpg"])[0].detections  # boxes on the photo, scores, labels, a map each
"""

from .errors import ReciproCamError
from .inference.detector import Detection, DetectionExplanation, DetectorExplainer
from .inference.explainer import ClassMap, Explainer, Explanation, Prediction
from .inference.probe import verify
from .methods import locate
from .methods.base import FeatureMap, Located
from .methods.saliency import SALIENCY, SALIENCY_CLASSES
from .model.formats import read_model
from .model.formats import save_model as save
from .output.detection_files import DetectionOutputs
from .output.explain_files import ExplainRun, Outputs, save_explanation
from .output.pictures import draw_map, heatmap, overlay_of, show_in_notebooks
from .patching import is_patched, patch
from .photos.preprocess import Preprocess
from .runs.explain import explain_paths
from .runs.explain_detections import explain_detection_paths
from .version import __version__
from .vocabulary import (
    DetectionOptions,
    DetectorKind,
    Interpolation,
    Kernel,
    Layout,
    OverlayFormat,
    PatchOptions,
    Recipe,
    Resize,
    Score,
    ScoreKind,
)

__all__ = [
    "SALIENCY",
    "SALIENCY_CLASSES",
    "ClassMap",
    "Detection",
    "DetectionExplanation",
    "DetectionOptions",
    "DetectionOutputs",
    "DetectorExplainer",
    "DetectorKind",
    "Explainer",
    "ExplainRun",
    "Explanation",
    "FeatureMap",
    "Interpolation",
    "Kernel",
    "Layout",
    "Located",
    "Outputs",
    "OverlayFormat",
    "PatchOptions",
    "Prediction",
    "Preprocess",
    "Recipe",
    "ReciproCamError",
    "Resize",
    "Score",
    "ScoreKind",
    "__version__",
    "draw_map",
    "explain_detection_paths",
    "explain_paths",
    "heatmap",
    "is_patched",
    "locate",
    "overlay_of",
    "patch",
    "read_model",
    "save",
    "save_explanation",
    "verify",
]

show_in_notebooks(Explanation)  # a notebook cell that ends with an Explanation shows its top class's overlay
