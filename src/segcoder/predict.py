"""Using a trained run: predict class maps for arrays and image files.

Example:
    >>> seg = segcoder.load("runs/membrane")
    >>> labels = seg.predict(image)          # (H, W) mask values, same size as the image
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from segcoder.data.augment import pad_to_multiple
from segcoder.data.dataset import match_channels
from segcoder.data.io import IMAGE_SUFFIXES, read_image
from segcoder.errors import SegcoderError
from segcoder.outputs import write_outputs
from segcoder.run import MODEL_FILE, check_run_dir, load_run_config


class Segmenter:
    """A trained model with its class list and settings, ready to predict."""

    def __init__(self, model, config, classes):
        self.model, self.config, self.classes = model, config, classes
        self.channels = int(model.input_shape[-1])
        self.stride = 2**config.model.depth

    @classmethod
    def load(cls, run_dir: str | Path) -> "Segmenter":
        import keras

        run_dir = check_run_dir(run_dir)
        config, classes = load_run_config(run_dir)
        model = keras.saving.load_model(run_dir / MODEL_FILE, compile=False)
        return cls(model, config, classes)

    def _as_image(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3:
            raise SegcoderError(f"expected an image of shape (H, W) or (H, W, C), got {image.shape}")
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        elif image.dtype == np.uint16:
            image = image.astype(np.float32) / 65535.0
        image = image.astype(np.float32, copy=False)
        if image.shape[-1] == 4:
            image = image[..., :3]
        return match_channels(image, self.channels)

    def predict_logits_batch(self, batch: np.ndarray) -> np.ndarray:
        """Logits (N, H, W, out_channels) for a float32 batch (N, H, W, C) whose sides are multiples of the stride.

        This is the one call every inference engine provides (see :func:`load`).
        """
        return np.asarray(self.model.predict_on_batch(batch))

    def predict_logits(self, image: np.ndarray) -> np.ndarray:
        """Logits (H, W, out_channels) for one image, predicted whole: padded to the stride, cropped back."""
        image = self._as_image(image)
        h, w = image.shape[:2]
        padded, _ = pad_to_multiple(image, None, self.stride)
        return self.predict_logits_batch(padded[None])[0, :h, :w]

    def predict_proba(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities (H, W, num_classes)."""
        logits = self.predict_logits(image).astype(np.float32)
        if logits.shape[-1] == 1:
            p = 1.0 / (1.0 + np.exp(-logits))
            return np.concatenate([1.0 - p, p], axis=-1)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    def predict_labels(self, image: np.ndarray) -> np.ndarray:
        """Training class index (0..num_classes-1) per pixel, shape (H, W)."""
        logits = self.predict_logits(image)
        if logits.shape[-1] == 1:
            return (logits[..., 0] > 0).astype(np.uint8)
        return logits.argmax(axis=-1).astype(np.uint8)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Mask value (the class ``id`` of classes.json) per pixel, shape (H, W)."""
        values = self.classes.values()
        dtype = np.uint16 if values.max() > 255 else np.uint8
        return values[self.predict_labels(image)].astype(dtype)


def load(run_dir: str | Path, engine: str = "keras") -> Segmenter:
    """Load a finished run folder for prediction with the Keras model or (``engine="onnx"``) its ONNX export."""
    if engine == "keras":
        return Segmenter.load(run_dir)
    if engine == "onnx":
        from segcoder.onnx_engine import load_onnx_segmenter

        return load_onnx_segmenter(run_dir)
    raise SegcoderError(f"--engine must be keras or onnx, not '{engine}'")


def expand_inputs(inputs) -> list[Path]:
    """Files as given, and the image files inside each folder, in order."""
    from segcoder.data.pairs import list_images

    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(list_images(path, "images"))
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise SegcoderError(f"{path}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            found.append(path)
        else:
            raise SegcoderError(f"{path}: input not found; give image files or folders")
    if not found:
        raise SegcoderError("no input images given")
    return found


def predict_files(run_dir, inputs, out_dir, log=print) -> list[Path]:
    """Predict every input image and write its index mask, colour mask and overlay into ``out_dir``."""
    segmenter = load(run_dir)
    files = expand_inputs(inputs)
    out_dir = Path(out_dir)
    written = []
    for n, path in enumerate(files, 1):
        image = read_image(path)
        values = segmenter.predict(image)
        written.extend(write_outputs(out_dir, path.stem, image, values, segmenter.classes))
        log(f"[{n}/{len(files)}] {path} -> {out_dir / (path.stem + '_mask.png')}")
    return written
