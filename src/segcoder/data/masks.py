"""Checking a set of masks against the class list, and mapping mask codes to training labels.

A dataset is read in one of two modes, chosen once for all its masks:

- ``value``: gray, index and palette masks; a 65536-entry table maps values to labels.
  Colour files whose colours are all grays (a 0/255 mask saved as RGB) count as gray.
- ``colour``: colour masks; a 2**24-entry table maps packed colours to labels through the
  class colours. JPEG masks map to the nearest class colour within a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segcoder.data.classes import IGNORE_LABEL, ClassMap
from segcoder.data.encodings import (
    COLOUR_TABLE_SIZE, JPEG_TOLERANCE, NO_COLOUR, as_gray_codes, as_gray_values, describe_file, gray_codes,
    is_colour, nearest_colour, pack_rgb, unpack_rgb,
)
from segcoder.data.io import FileInfo, image_size, read_image, read_mask_info
from segcoder.errors import SegcoderError

# More distinct values than this without a classes.json is taken for a photo-like or
# JPEG mask rather than class ids.
MAX_FOUND_CLASSES = 64

# A JPEG mask with more of its pixels beyond the colour tolerance than this is refused:
# it holds colours that are not in the class list, not just compression noise.
MAX_BEYOND_SHARE = 0.05


@dataclass
class MaskStats:
    """What reading one mask tells: its distinct codes, their pixel counts and the file's encoding."""

    codes: np.ndarray
    counts: np.ndarray
    info: FileInfo
    kind: str  # see encodings.describe_file
    shape: tuple = (0, 0)  # (height, width)

    @property
    def pixels(self) -> int:
        return int(self.counts.sum())


@dataclass
class PairScan:
    """What reading every mask of a dataset once tells."""

    values: dict[Path, np.ndarray]  # distinct codes of each mask file
    channels: int  # input channels of the first image (1 or 3)
    stats: dict = field(default_factory=dict)  # mask path -> MaskStats

    @property
    def mode(self) -> str:
        """``colour`` when any mask holds real (non-gray) colours, else ``value``."""
        for codes in self.values.values():
            if is_colour(codes) and not gray_codes(codes):
                return "colour"
        return "value"

    def codes_in(self, mode: str) -> dict[Path, np.ndarray]:
        return {path: codes_for_mode(codes, mode) for path, codes in self.values.items()}

    def all_values(self, mode: str | None = None) -> np.ndarray:
        return np.unique(np.concatenate(list(self.codes_in(mode or self.mode).values())))


def codes_for_mode(codes: np.ndarray, mode: str) -> np.ndarray:
    """Codes of one mask as the dataset mode reads them (gray colours as values, gray values as colours)."""
    if mode == "value":
        return as_gray_values(codes) if is_colour(codes) else codes
    if is_colour(codes):
        return codes
    # 16-bit values above 255 have no gray colour; they get the table's extra "no colour" entry.
    return np.where(codes <= 255, as_gray_codes(np.minimum(codes, 255)), np.uint32(NO_COLOUR))


def scan_mask(mask_path, image_path=None) -> MaskStats:
    """Read one mask (and the header of its image): its codes and counts, or a SegcoderError."""
    codes, info = read_mask_info(mask_path)
    if image_path is not None:
        size = image_size(image_path)
        if size != codes.shape:
            raise SegcoderError(
                f"{mask_path}: mask is {codes.shape[1]}x{codes.shape[0]} but its image {image_path.name} is "
                f"{size[1]}x{size[0]}; masks must have their image's size"
            )
    found, counts = np.unique(codes, return_counts=True)
    return MaskStats(found, counts, info, describe_file(info, found), codes.shape)


def scan_pairs(pairs) -> PairScan:
    """Read every mask and every image header; check that sizes match."""
    values, stats = {}, {}
    channels = None
    for image_path, mask_path in pairs:
        stats[mask_path] = scan_mask(mask_path, image_path)
        values[mask_path] = stats[mask_path].codes
        if channels is None:
            channels = read_image(image_path).shape[-1]
    return PairScan(values, channels or 1, stats)


@dataclass
class LabelPlan:
    """How a dataset's masks map to training labels, and what does not fit the class list."""

    lut: np.ndarray  # code -> training label (IGNORE_LABEL for ignored pixels)
    mode: str  # value or colour
    problems: list[str]  # one line per bad mask file
    beyond: dict = field(default_factory=dict)  # JPEG mask path -> pixels beyond the colour tolerance


def match_classes(cmap: ClassMap, scan: PairScan, classes_file=None, tolerance: float = JPEG_TOLERANCE) -> LabelPlan:
    """Build the lookup table for ``scan``'s masks and list every file that does not fit ``cmap``."""
    source = classes_file or "the class list"
    mode = scan.mode
    if mode == "value":
        plan = _value_plan(cmap, scan, source, tolerance)
        has_rgb = any(is_colour(codes) for codes in scan.values.values())
        if plan.problems and has_rgb:
            # Gray colour masks may still name classes by colour rather than by id.
            colour_plan = _colour_plan(cmap, scan, source, tolerance)
            if not colour_plan.problems:
                return colour_plan
        return plan
    return _colour_plan(cmap, scan, source, tolerance)


def _is_jpeg(scan: PairScan, path) -> bool:
    stats = scan.stats.get(path)
    return stats is not None and stats.info.format == "JPEG"


def _value_plan(cmap: ClassMap, scan: PairScan, source, tolerance: float) -> LabelPlan:
    lut = cmap.lut()
    known = {c.id for c in cmap.classes}
    trained_ids = sorted(c.id for c in cmap.trained)
    codes = scan.codes_in("value")
    exact = [set(found.tolist()) for path, found in codes.items() if not _is_jpeg(scan, path)]
    values = set().union(*exact) if exact else set()
    if trained_ids == [0, 1] and values <= {0, 255} and max(scan.all_values("value"), default=0) > 1:
        lut[255] = lut[1]  # binary 0/255 masks for a 0/1 class list
        known.add(255)
    known_values = np.array(sorted(known))
    problems, beyond = [], {}
    for path, found in codes.items():
        extra = np.array(sorted(set(found.tolist()) - known), np.int64)
        if _is_jpeg(scan, path):
            # Gray JPEG masks drift too: each value takes the nearest class value within the tolerance.
            stats = scan.stats[path]
            nearest = known_values[np.abs(extra[:, None] - known_values[None, :]).argmin(axis=1)] if len(extra) else extra
            near = np.abs(extra - nearest) <= tolerance
            lut[extra[near]] = lut[nearest[near]]
            far = np.isin(found, extra[~near])
            beyond[path] = int(stats.counts[far].sum())
            if beyond[path] > MAX_BEYOND_SHARE * stats.pixels:
                problems.append(
                    f"{path}: {beyond[path]} pixels ({beyond[path] / stats.pixels:.0%}) are further than {tolerance:g} "
                    f"from every class value in {source}, e.g. {extra[~near][:8].tolist()}; "
                    "fix the masks or the class list"
                )
        elif len(extra):
            problems.append(
                f"{path}: mask values {extra[:8].tolist()} are not in {source} (ids {sorted(known)[:12]}); "
                "fix the masks or the class list"
            )
    return LabelPlan(lut, "value", problems, beyond)


def _colour_plan(cmap: ClassMap, scan: PairScan, source, tolerance: float) -> LabelPlan:
    value_lut = cmap.lut()
    palette = np.array([c.color for c in cmap.classes], np.uint8)
    labels = np.array([value_lut[c.id] for c in cmap.classes], np.uint8)
    class_codes = pack_rgb(palette)
    lut = np.full(COLOUR_TABLE_SIZE, IGNORE_LABEL, np.uint8)
    lut[class_codes[::-1]] = labels[::-1]  # reversed, so the first class wins a shared colour
    codes = scan.codes_in("colour")
    all_codes = np.unique(np.concatenate(list(codes.values())))
    off = all_codes[~np.isin(all_codes, class_codes)]
    nearest, within = nearest_colour(off, palette, tolerance)
    lut[off[within]] = labels[nearest[within]]
    problems, beyond = [], {}
    for path, found in codes.items():
        stats = scan.stats.get(path)
        unknown = ~np.isin(found, class_codes)
        if found.max(initial=0) == NO_COLOUR:
            problems.append(f"{path}: a 16-bit index mask among colour masks; convert the masks with "
                            "'segcoder data convert' so they all use one encoding")
        elif stats is not None and stats.info.format == "JPEG":
            far = unknown & ~np.isin(found, off[within])
            beyond[path] = int(stats.counts[far].sum())
            if beyond[path] > MAX_BEYOND_SHARE * stats.pixels:
                problems.append(
                    f"{path}: {beyond[path]} pixels ({beyond[path] / stats.pixels:.0%}) are further than {tolerance:g} "
                    f"from every class colour in {source}, e.g. {_rgb_list(found[far])}; fix the masks or the class list"
                )
        elif unknown.any():
            problems.append(
                f"{path}: colours {_rgb_list(found[unknown])} are not in {source} "
                f"(colours {_rgb_list(class_codes, 6)}); fix the masks or the class list"
            )
    return LabelPlan(lut, "colour", problems, beyond)


def _rgb_list(codes: np.ndarray, limit: int = 5) -> str:
    shown = [tuple(int(v) for v in rgb) for rgb in unpack_rgb(codes[:limit])]
    return ", ".join(str(c) for c in shown) + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def label_table(cmap: ClassMap, scan: PairScan, classes_file: str | Path | None = None) -> np.ndarray:
    """The mask-code -> training-label table for these masks, or a SegcoderError naming every bad file.

    Binary masks stored as 0/255 are accepted for a class list whose two classes have ids 0 and 1.
    Colour masks are mapped through the class colours.
    """
    plan = match_classes(cmap, scan, classes_file)
    if plan.problems:
        more = f" (and {len(plan.problems) - 3} more files)" if len(plan.problems) > 3 else ""
        raise SegcoderError("; ".join(plan.problems[:3]) + more)
    return plan.lut


def classes_from_masks(scan: PairScan, where: str | Path) -> ClassMap:
    """Build the class list from the values (or colours) found in the masks.

    Gray JPEG masks whose pixels nearly all lie near 0 or 255 are taken for binary 0/255 masks.
    """
    mode = scan.mode
    values = scan.all_values(mode)
    if mode == "value" and any(_is_jpeg(scan, path) for path in scan.values) and _looks_binary(scan):
        return ClassMap.from_values([0, 255])
    if len(values) > MAX_FOUND_CLASSES:
        raise SegcoderError(
            f"{where}: masks hold {len(values)} distinct {'colours' if mode == 'colour' else 'values'}, "
            "which looks like photos or JPEG masks; save masks as class indices or give --classes classes.json"
        )
    if mode == "value":
        return ClassMap.from_values(values)
    from segcoder.data.classes import ClassInfo

    classes = [ClassInfo(i, f"class_{i}", tuple(int(v) for v in rgb)) for i, rgb in enumerate(unpack_rgb(values))]
    if len(classes) < 2:
        raise SegcoderError(f"{where}: every mask holds only one colour; masks need at least two classes")
    return ClassMap(classes, None, "found from mask colours")


def _looks_binary(scan: PairScan, share: float = 0.95) -> bool:
    """Whether nearly all pixels sit near 0 or 255, as in a 0/255 mask saved as JPEG."""
    near = total = 0
    for path, stats in scan.stats.items():
        values = codes_for_mode(stats.codes, "value").astype(np.int64)
        near += int(stats.counts[(values <= JPEG_TOLERANCE) | (values >= 255 - JPEG_TOLERANCE)].sum())
        total += stats.pixels
    return total > 0 and near >= share * total


def to_labels(mask: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map mask codes (as :func:`read_mask` returns them) to training labels (uint8, IGNORE_LABEL for ignored)."""
    return lut[codes_for_mode(mask, "colour" if lut.size == COLOUR_TABLE_SIZE else "value")]


def class_pixels(scan: PairScan, lut: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels per training class over all masks, and the pixels of the masks each class appears in.

    Returns (counts, present), both of length ``num_classes``; ignored pixels are left out.
    """
    mode = "colour" if lut.size == COLOUR_TABLE_SIZE else "value"
    counts = np.zeros(num_classes, np.int64)
    present = np.zeros(num_classes, np.int64)
    for path, stats in scan.stats.items():
        labels = lut[codes_for_mode(stats.codes, mode)]
        per_class = np.bincount(labels, weights=stats.counts, minlength=256)[:num_classes].astype(np.int64)
        counts += per_class
        present += np.where(per_class > 0, stats.pixels, 0)
    return counts, present


def median_frequency_weights(counts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """SegNet's median-frequency balancing: weight_c = median(freq) / freq_c, freq_c = pixels_c / pixels of masks with c.

    Classes that never appear get weight 0.
    """
    seen = counts > 0
    freq = np.zeros(len(counts), np.float64)
    freq[seen] = counts[seen] / present[seen]
    weights = np.zeros(len(counts), np.float64)
    if seen.any():
        weights[seen] = np.median(freq[seen]) / freq[seen]
    return weights
