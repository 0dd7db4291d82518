"""Per-detection Recipro-CAM for detectors: masked copies of the cut tensors, the neck and heads cloned to score them,
the detections selected in the graph, and a map per detection (docs/architecture.md, "A detector")."""
