"""Models in and out: reading any format, saving IR, rt_info, labels, TFLite metadata, reshapes."""
