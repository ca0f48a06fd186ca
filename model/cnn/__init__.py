"""Image CNNs as plain torch modules (EfficientNet-Lite0, VGG-19), image loading, and the registry by name."""
