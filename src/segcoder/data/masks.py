"""Checking a set of masks against the class list, and mapping mask values to training labels."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcoder.data.classes import ClassMap
from segcoder.data.io import image_size, read_image, read_mask
from segcoder.errors import SegcoderError

# More distinct values than this without a classes.json is taken for a photo-like or
# JPEG mask rather than class ids.
MAX_FOUND_CLASSES = 64


@dataclass
class PairScan:
    """What reading every mask of a dataset once tells."""

    values: dict[Path, np.ndarray]  # distinct values of each mask file
    channels: int  # input channels of the first image (1 or 3)

    def all_values(self) -> np.ndarray:
        return np.unique(np.concatenate(list(self.values.values())))


def scan_pairs(pairs: list[tuple[Path, Path]]) -> PairScan:
    """Read every mask and every image header; check that sizes match."""
    values = {}
    channels = None
    for image_path, mask_path in pairs:
        mask = read_mask(mask_path)
        size = image_size(image_path)
        if size != mask.shape:
            raise SegcoderError(
                f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image {image_path.name} is "
                f"{size[1]}x{size[0]}; masks must have their image's size"
            )
        if channels is None:
            channels = read_image(image_path).shape[-1]
        values[mask_path] = np.unique(mask)
    return PairScan(values, channels or 1)


def label_table(cmap: ClassMap, scan: PairScan, classes_file: str | Path | None = None) -> np.ndarray:
    """The mask-value -> training-label table for these masks, or a SegcoderError naming a bad file.

    Binary masks stored as 0/255 are accepted for a class list whose two classes have ids 0 and 1.
    """
    lut = cmap.lut()
    known = {c.id for c in cmap.classes}
    trained_ids = sorted(c.id for c in cmap.trained)
    if trained_ids == [0, 1] and set(scan.all_values().tolist()) <= {0, 255}:
        lut[255] = lut[1]
        known.add(255)
    source = classes_file or "the class list"
    for path, found in scan.values.items():
        extra = sorted(set(found.tolist()) - known)
        if extra:
            raise SegcoderError(
                f"{path}: mask values {extra[:8]} are not in {source} (ids {sorted(known)[:12]}); "
                "fix the masks or the class list"
            )
    return lut


def classes_from_masks(scan: PairScan, where: str | Path) -> ClassMap:
    """Build the class list from the values found in the masks."""
    values = scan.all_values()
    if len(values) > MAX_FOUND_CLASSES:
        raise SegcoderError(
            f"{where}: masks hold {len(values)} distinct values, which looks like photos or JPEG masks; "
            "save masks as class indices or give --classes classes.json"
        )
    return ClassMap.from_values(values)


def to_labels(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map stored mask values to training labels (uint8, IGNORE_LABEL for ignored pixels)."""
    return lut[mask]
