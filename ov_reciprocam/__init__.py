"""ov-reciprocam: Recipro-CAM saliency maps inside OpenVINO models.

import ov_reciprocam as orc
model = orc.patch("model.xml")          # adds a `saliency_map` output [B, classes, H, W]
orc.save(model, "model_xai.xml")
explainer = orc.Explainer("model_xai.xml")
results = explainer.explain(["photo.jpg"])          # in memory
run = explainer.explain_paths(["photos/"], "out")   # folders and globs, written as `explain` writes them
"""

__version__ = "0.1.0"

from .errors import ReciproCamError
from .inference.explainer import ClassMap, Explainer, Explanation, Prediction
from .inference.preprocess import Preprocess
from .methods.base import FeatureMap, Located
from .methods.cnn.locate import locate
from .methods.saliency import SALIENCY
from .model.formats import read_model
from .model.formats import save_model as save
from .patching import is_patched, patch

__all__ = [
    "SALIENCY",
    "ClassMap",
    "Explainer",
    "Explanation",
    "FeatureMap",
    "Located",
    "Prediction",
    "Preprocess",
    "ReciproCamError",
    "__version__",
    "is_patched",
    "locate",
    "patch",
    "read_model",
    "save",
]
