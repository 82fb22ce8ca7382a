"""Turning the data settings of a run into checked training and validation pairs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcoder.config import DataConfig
from segcoder.data.classes import ClassMap
from segcoder.data.masks import PairScan, classes_from_masks, label_table, scan_pairs
from segcoder.data.pairs import find_pairs
from segcoder.errors import SegcoderError


@dataclass
class PreparedData:
    train_pairs: list[tuple[Path, Path]]
    val_pairs: list[tuple[Path, Path]]
    classes: ClassMap
    lut: np.ndarray  # mask value -> training label
    channels: int


def split_pairs(pairs, val_split: float, seed: int):
    """A seeded random hold-out of about ``val_split`` of the pairs (at least one each side)."""
    if len(pairs) < 2:
        raise SegcoderError(
            f"only {len(pairs)} image/mask pair found; --val-split needs at least 2, "
            "or give --val-images and --val-masks"
        )
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = min(len(pairs) - 1, max(1, round(len(pairs) * val_split)))
    val = sorted(order[:n_val].tolist())
    train = sorted(order[n_val:].tolist())
    return [pairs[i] for i in train], [pairs[i] for i in val]


def prepare_data(data: DataConfig, seed: int = 0) -> PreparedData:
    """Pair, split and check the data; find or load the class list."""
    if not data.images or not data.masks:
        raise SegcoderError("training needs --images DIR and --masks DIR (or data.images/data.masks in --config)")
    pairs = find_pairs(data.images, data.masks)
    if (data.val_images is None) != (data.val_masks is None):
        raise SegcoderError("give both --val-images and --val-masks, or neither (then --val-split is used)")
    if data.val_images:
        train_pairs, val_pairs = pairs, find_pairs(data.val_images, data.val_masks)
    else:
        train_pairs, val_pairs = split_pairs(pairs, data.val_split, seed)
    train_scan, val_scan = scan_pairs(train_pairs), scan_pairs(val_pairs)
    both = PairScan({**train_scan.values, **val_scan.values}, train_scan.channels,
                    {**train_scan.stats, **val_scan.stats})
    if data.classes:
        classes = ClassMap.load(data.classes)
    else:
        classes = classes_from_masks(both, data.masks)
    lut = label_table(classes, both, data.classes)
    return PreparedData(train_pairs, val_pairs, classes, lut, train_scan.channels)
