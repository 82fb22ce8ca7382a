"""Using a trained run: predict class maps for arrays and image files, at any size.

Images larger than ``tile`` are predicted tile by tile with Gaussian blending
(:mod:`segcoder.tiling`); ``tta`` averages flipped views (:mod:`segcoder.tta`).
Everything is built on ``predict_logits_batch``, the one call every inference
engine provides, so the Keras and ONNX engines behave alike.

Example:
    >>> seg = segcoder.load("runs/membrane")
    >>> labels = seg.predict(image)                          # (H, W) mask values, same size as the image
    >>> labels = seg.predict_labels(big, tta="flip", tile=512, overlap=0.25)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from segcoder.data.augment import pad_to_multiple
from segcoder.data.dataset import match_channels
from segcoder.data.resample import resize_image, resize_logits, scaled_size
from segcoder.errors import SegcoderError
from segcoder.run import MODEL_FILE, check_run_dir, load_run_config
from segcoder.sources import expand_inputs, pixel_scale  # noqa: F401  (expand_inputs: public API)
from segcoder.tiling import blend, extract_tiles, plan_tiles
from segcoder.tta import check_tta, tta_logits

DEFAULT_TILE = 512  # images with a side above this are predicted in tiles
DEFAULT_OVERLAP = 0.25  # share of the tile side that neighbouring tiles share
DEFAULT_BATCH = 4  # tiles per forward pass


def prepare(raw: np.ndarray, scale: float, channels: int) -> np.ndarray:
    """Raw pixels (..., H, W, C) in any dtype -> float32 network input in [0, 1] with ``channels`` channels."""
    x = raw.astype(np.float32)
    if scale != 1.0:
        x /= np.float32(scale)
    if raw.dtype.kind in "iub":
        np.clip(x, 0.0, 1.0, out=x)
    if x.shape[-1] == 4:
        x = x[..., :3]
    return match_channels(x, channels)


def _as_hwc(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise SegcoderError(f"expected an image of shape (H, W) or (H, W, C), got {image.shape}")
    return image


def uses_tiles(height: int, width: int, tile: int | None) -> bool:
    """Whether an image of this size is predicted in tiles (only when a side exceeds ``tile``)."""
    return tile is not None and (height > tile or width > tile)


def count_tiles(height: int, width: int, tile: int | None, overlap: float, stride: int,
                image_scale: float = 1.0) -> int:
    """Forward passes (before TTA) that predicting one image of this size takes."""
    height, width = scaled_size(height, width, image_scale)
    if not uses_tiles(height, width, tile):
        return 1
    return plan_tiles(height, width, tile, overlap, stride).count


def logit_bands(
    engine, raw: np.ndarray, scale: float | None = None, tta: str = "none", tile: int | None = DEFAULT_TILE,
    overlap: float = DEFAULT_OVERLAP, batch_size: int = DEFAULT_BATCH, on_tiles: Callable[[int], None] | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, logits)`` row bands for one raw image, top to bottom.

    Args:
        engine: anything with ``predict_logits_batch``, ``channels`` and ``stride`` (a Segmenter).
        raw: (H, W) or (H, W, C) pixels; uint8/uint16 are scaled to [0, 1], floats are used as they are.
        scale: divisor for ``raw``; None picks it from the dtype.
        tta: "none", "flip" or "d4" (see :mod:`segcoder.tta`).
        tile: tile side; an image with a side above it is tiled. None: always whole.
        overlap: share of the tile side that neighbouring tiles share.
        batch_size: tiles per forward pass.
        on_tiles: called with the number of tiles (or 1 whole image) just predicted.

    A run trained with ``image_scale`` other than 1 sees the image resized by it (tiles
    are then planned on the resized image); its logits come back bilinearly resized to
    the input's size as one band.
    """
    check_tta(tta)
    raw = _as_hwc(raw)
    scale = pixel_scale(raw) if scale is None else scale
    factor = getattr(engine, "image_scale", 1.0)
    if factor == 1.0:
        yield from _bands(engine, raw, scale, tta, tile, overlap, batch_size, on_tiles)
        return
    # Resized as float pixels in [0, 1], exactly as training resized them.
    small = resize_image(prepare(raw, scale, engine.channels), factor)
    bands = [rows for _, rows in _bands(engine, small, 1.0, tta, tile, overlap, batch_size, on_tiles)]
    yield 0, resize_logits(bands[0] if len(bands) == 1 else np.concatenate(bands), raw.shape[:2])


def _bands(engine, raw, scale, tta, tile, overlap, batch_size, on_tiles):
    """:func:`logit_bands` for an image at the network's own resolution."""
    h, w = raw.shape[:2]

    def forward(batch):
        return tta_logits(engine.predict_logits_batch, batch, tta)

    if not uses_tiles(h, w, tile):
        padded, _ = pad_to_multiple(prepare(raw, scale, engine.channels), None, engine.stride)
        logits = forward(padded[None])[0, :h, :w]
        if on_tiles is not None:
            on_tiles(1)
        yield 0, logits
        return
    if batch_size < 1:
        raise SegcoderError(f"--batch-size must be at least 1, not {batch_size}")
    grid = plan_tiles(h, w, tile, overlap, engine.stride)
    yield from blend(
        grid, lambda coords: forward(prepare(extract_tiles(raw, grid, coords), scale, engine.channels)),
        batch_size, on_tiles,
    )


def logits_to_proba(logits: np.ndarray) -> np.ndarray:
    """Class probabilities (..., num_classes) from logits: sigmoid for one channel, softmax otherwise."""
    logits = logits.astype(np.float32, copy=False)
    if logits.shape[-1] == 1:
        p = 1.0 / (1.0 + np.exp(-logits))
        return np.concatenate([1.0 - p, p], axis=-1)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def logits_to_labels(logits: np.ndarray) -> np.ndarray:
    """Training class index per pixel (uint8)."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).astype(np.uint8)
    return logits.argmax(axis=-1).astype(np.uint8)


def label_values(classes, labels: np.ndarray) -> np.ndarray:
    """Mask value (the class ``id`` of classes.json) for each training index."""
    values = classes.values()
    return values[labels].astype(np.uint16 if values.max() > 255 else np.uint8)


class Segmenter:
    """A trained model with its class list and settings, ready to predict.

    Every ``predict*`` method takes the same options: ``tta`` ("none", "flip",
    "d4"), ``tile`` (side above which an image is tiled; None: never),
    ``overlap`` and ``batch_size`` (tiles per forward pass).
    """

    def __init__(self, model, config, classes):
        self.model, self.config, self.classes = model, config, classes
        self.channels = int(model.input_shape[-1])
        self.stride = 2**config.model.depth
        self.image_scale = config.data.image_scale  # inputs are resized by this before the network

    @classmethod
    def load(cls, run_dir: str | Path) -> "Segmenter":
        import keras

        run_dir = check_run_dir(run_dir)
        config, classes = load_run_config(run_dir)
        from segcoder.models.inference import fold_batchnorm

        model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
        # Batch norm folded into the convolutions: same logits, one pass less per layer.
        return cls(fold_batchnorm(model, config.model), config, classes)

    def predict_logits_batch(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, H, W, out_channels) for a float32 batch (N, H, W, C) whose sides are multiples of the stride.

        This is the one call every inference engine provides (see :func:`load`).
        """
        return np.asarray(self.model.predict_on_batch(batch))

    def predict_logits(self, image: np.ndarray, tta: str = "none", tile: int | None = DEFAULT_TILE,
                       overlap: float = DEFAULT_OVERLAP, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """Logits (H, W, out_channels) for one image, whole or (larger than ``tile``) in blended tiles."""
        bands = [rows for _, rows in logit_bands(self, image, None, tta, tile, overlap, batch_size)]
        return bands[0] if len(bands) == 1 else np.concatenate(bands)

    def predict_proba(self, image: np.ndarray, **options) -> np.ndarray:
        """Class probabilities (H, W, num_classes); ``options`` as for :meth:`predict_logits`."""
        return logits_to_proba(self.predict_logits(image, **options))

    def predict_labels(self, image: np.ndarray, **options) -> np.ndarray:
        """Training class index (0..num_classes-1) per pixel, shape (H, W)."""
        return logits_to_labels(self.predict_logits(image, **options))

    def predict(self, image: np.ndarray, **options) -> np.ndarray:
        """Mask value (the class ``id`` of classes.json) per pixel, shape (H, W)."""
        return label_values(self.classes, self.predict_labels(image, **options))


def load(run_dir: str | Path, engine: str = "keras") -> Segmenter:
    """Load a finished run folder for prediction with the Keras model or (``engine="onnx"``) its ONNX export."""
    if engine == "keras":
        return Segmenter.load(run_dir)
    if engine == "onnx":
        from segcoder.onnx_engine import load_onnx_segmenter

        return load_onnx_segmenter(run_dir)
    raise SegcoderError(f"--engine must be keras or onnx, not '{engine}'")


def predict_files(run_dir, inputs, out_dir, log=print, **options):
    """Predict every input and write the chosen outputs into ``out_dir`` (see :func:`segcoder.batch.predict_files`)."""
    from segcoder.batch import predict_files as _predict_files

    return _predict_files(run_dir, inputs, out_dir, log=log, **options)
