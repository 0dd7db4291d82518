"""Maps for the known-response model of the metric tests: its class probability is 0.2 + 0.6 * the mean of
channel 0 over the top-left 4x4 region R of an 8x8 image in [0, 1]."""

from __future__ import annotations

import numpy as np

BOX = np.zeros((8, 8), np.float32)
BOX[:4, :4] = 1.0  # a perfect map: exactly the region the model reads
FLAT = np.full((8, 8), 0.5, np.float32)
