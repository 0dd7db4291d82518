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
from .graph import SALIENCY
from .loading import read_model
from .loading import save_model as save
from .locating import FeatureMap, Located, locate
from .patching import is_patched, patch
from .preprocess import Preprocess
from .runtime import ClassMap, Explainer, Explanation, Prediction

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
