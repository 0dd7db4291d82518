"""The CNN family: Recipro-CAM on a convolutional feature map (locate, exact tail shortcuts, build)."""
