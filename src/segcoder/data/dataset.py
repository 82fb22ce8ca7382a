"""Keras datasets that decode, crop and augment image/mask pairs in worker threads."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from segcoder.data.augment import pad_to_multiple, training_transform
from segcoder.data.io import read_image, read_mask
from segcoder.data.masks import to_labels
from segcoder.data.resample import resize_image, resize_labels


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Make a (H, W, C) image have ``channels`` channels (gray <-> RGB)."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image[..., :1], 3, axis=-1)
    return image.mean(axis=-1, keepdims=True, dtype=np.float32)


def load_pair(pair: tuple[Path, Path], lut: np.ndarray, channels: int, image_scale: float = 1.0):
    """Read one image (float32 HWC) and its mask as training labels (uint8 HW).

    Args:
        pair: (image, mask), each a path or a :class:`~segcoder.data.tiff.Page` of a TIFF stack.
        lut: the table :func:`~segcoder.data.masks.label_table` built for these masks.
        channels: image channels the network takes (gray and RGB are converted).
        image_scale: resize factor for both (the run's ``data.image_scale``); 1 keeps the file's size.
    """
    image_path, mask_path = pair
    image = match_channels(read_image(image_path), channels)
    labels = to_labels(read_mask(mask_path), lut)
    return resize_image(image, image_scale), resize_labels(labels, image_scale)


class SeededBatches(keras.utils.PyDataset):
    """``steps`` batches make an epoch; each batch draws from a seed built from (seed, epoch, batch index).

    So a run is repeatable whatever order the worker threads finish in. Subclasses
    build a batch in ``__getitem__`` from :meth:`batch_rng`.
    """

    def __init__(self, steps: int, seed: int, workers: int):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(4, 2 * workers))
        self.steps, self.seed, self.epoch = steps, seed, 0

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1

    def batch_rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


class TrainCrops(SeededBatches):
    """Batches of random augmented crops (images float32 NHWC, labels int32 NHW); ``steps`` batches an epoch."""

    def __init__(self, pairs, lut, channels, crop_size, batch_size, steps=None, seed=0, workers=2, image_scale=1.0):
        self.pairs, self.lut, self.channels = list(pairs), lut, channels
        self.crop_size, self.batch_size, self.image_scale = crop_size, batch_size, image_scale
        super().__init__(steps or self.default_steps(), seed, workers)

    def default_steps(self) -> int:
        """Enough crops to cover each training image about once."""
        from segcoder.data.io import image_size

        h, w = image_size(self.pairs[0][0])
        crops_per_image = max(1, round(h * w * self.image_scale**2 / self.crop_size**2))
        return max(1, math.ceil(len(self.pairs) * crops_per_image / self.batch_size))

    def __getitem__(self, index):
        rng = self.batch_rng(index)
        transform = training_transform(self.crop_size, int(rng.integers(2**31)))
        images = np.empty((self.batch_size, self.crop_size, self.crop_size, self.channels), np.float32)
        labels = np.empty((self.batch_size, self.crop_size, self.crop_size), np.int32)
        for slot, which in enumerate(rng.integers(len(self.pairs), size=self.batch_size)):
            image, mask = load_pair(self.pairs[which], self.lut, self.channels, self.image_scale)
            out = transform(image=image, mask=mask)
            images[slot], labels[slot] = out["image"], out["mask"]
        return images, labels


class WholeImages(keras.utils.PyDataset):
    """One whole image per batch (resized by ``image_scale``), padded to a multiple of the network stride."""

    def __init__(self, pairs, lut, channels, stride, workers=1, image_scale=1.0):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.pairs, self.lut, self.channels, self.stride = list(pairs), lut, channels, stride
        self.image_scale = image_scale

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        image, labels = load_pair(self.pairs[index], self.lut, self.channels, self.image_scale)
        image, labels = pad_to_multiple(image, labels, self.stride)
        return image[None], labels[None].astype(np.int32)


class SkipBatches(keras.utils.PyDataset):
    """The batches of ``base`` from ``skip`` on: finishing an epoch that a resumed run had started."""

    def __init__(self, base, skip: int):
        super().__init__(workers=base.workers, use_multiprocessing=False, max_queue_size=base.max_queue_size)
        self.base, self.skip = base, skip

    def __len__(self):
        return len(self.base) - self.skip

    def __getitem__(self, index):
        return self.base[index + self.skip]

    def on_epoch_end(self):
        self.base.on_epoch_end()
