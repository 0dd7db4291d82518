"""Measuring: map quality (metrics, baselines, eval), fidelity between models, speed (bench), INT8."""
