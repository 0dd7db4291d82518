"""ov-reciprocam: Recipro-CAM saliency maps inside OpenVINO models.

import ov_reciprocam as orc
model = orc.patch("model.onnx", recipe=orc.Recipe(mean=(127.5,), scale=(127.5,), rgb=True))
orc.save(model, "model_xai.xml")                    # IR, with a `saliency_map` output [B, classes, H, W]
explainer = orc.Explainer("model_xai.xml")
results = explainer.explain(["photo.jpg"])          # predictions and maps, in memory
run = orc.explain_paths(explainer, ["photos/"], "out")  # folders and globs, written as `explain` writes them
picture = orc.draw_map(frame, compiled(batch)["saliency_map"][0, c])  # your own inference, a map on a BGR frame
"""

__version__ = "0.1.0"

from .errors import ReciproCamError
from .inference.explainer import ClassMap, Explainer, Explanation, Prediction
from .inference.preprocess import Preprocess
from .inference.probe import verify
from .methods import locate
from .methods.base import FeatureMap, Located
from .methods.saliency import SALIENCY, SALIENCY_CLASSES
from .model.formats import read_model
from .model.formats import save_model as save
from .output.explain_files import ExplainRun, explain_paths, save_explanation
from .output.pictures import draw_map, heatmap
from .patching import is_patched, patch
from .vocabulary import Kernel, Layout, PatchOptions, Recipe, Resize, Score, ScoreKind

__all__ = [
    "SALIENCY",
    "SALIENCY_CLASSES",
    "ClassMap",
    "Explainer",
    "ExplainRun",
    "Explanation",
    "FeatureMap",
    "Kernel",
    "Layout",
    "Located",
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
    "explain_paths",
    "heatmap",
    "is_patched",
    "locate",
    "patch",
    "read_model",
    "save",
    "save_explanation",
    "verify",
]
