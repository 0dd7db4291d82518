"""Running models on photos and returning data: recipes, compiled Explainers, the probe, reported scores."""
