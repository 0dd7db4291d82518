"""Writing what inference returned: overlays, .npy maps, results.json, contact sheets, Ray shards."""
