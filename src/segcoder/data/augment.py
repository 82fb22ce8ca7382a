"""Joint image and mask augmentation for training crops (albumentations)."""

from __future__ import annotations

import albumentations as A
import cv2

from segcoder.data.classes import IGNORE_LABEL


def training_transform(crop_size: int, seed: int) -> A.Compose:
    """Random crop (reflect-padded when the image is smaller) and horizontal/vertical flips.

    A fresh, seeded Compose per batch keeps batches reproducible even when
    worker threads run them out of order.
    """
    return A.Compose(
        [
            A.PadIfNeeded(crop_size, crop_size, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(crop_size, crop_size),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
        ],
        seed=seed,
    )


def pad_to_multiple(image, mask, multiple: int):
    """Pad bottom/right so both sides are multiples of ``multiple``: image reflected, mask ignored."""
    import numpy as np

    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return image, mask
    mode = "reflect" if ph < h and pw < w else "symmetric"
    image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode)
    if mask is not None:
        mask = np.pad(mask, ((0, ph), (0, pw)), constant_values=IGNORE_LABEL)
    return image, mask
