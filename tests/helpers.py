"""Synthetic data for tests (importable from test modules; pytest puts tests/ on sys.path)."""

import numpy as np


def make_faces(n_per_class=20, size=12, n_classes=3, seed=0):
    """Noisy uint8 images whose class is a texture: horizontal stripes, vertical
    stripes, a checkerboard, or none.

    The class does not depend on position, so global-average-pooled CNNs learn it
    in a few epochs and classifier tests can assert accuracy.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((size, size))
    textures = [rows % 2, cols % 2, (rows + cols) % 2, np.zeros((size, size), int)]
    labels = np.repeat(np.arange(n_classes), n_per_class)
    noise = rng.integers(0, 80, (len(labels), size, size))
    images = noise + 120 * np.stack([textures[label % 4] for label in labels])
    order = rng.permutation(len(labels))
    return images[order].astype(np.uint8), labels[order]
