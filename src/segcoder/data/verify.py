"""Checking a folder pair of images and masks, listing every problem rather than stopping at the first.

Example:
    >>> report = verify_data("train/images", "train/masks", "classes.json")
    >>> print(report.format())
    >>> report.usable
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segcoder.data.classes import ClassMap
from segcoder.data.encodings import JPEG_TOLERANCE, summarise
from segcoder.data.io import read_image_info
from segcoder.data.masks import (
    PairScan, class_pixels, classes_from_masks, match_classes, median_frequency_weights, scan_mask,
)
from segcoder.data.pairs import match_files
from segcoder.errors import SegcoderError


@dataclass
class VerifyReport:
    """What ``segcoder data verify`` found; :attr:`usable` decides the exit code."""

    images: Path
    masks: Path
    pairs: int  # image/mask pairs found
    readable: int  # pairs whose image and mask both read and match in size
    encoding: str  # the mask encoding detected, e.g. "binary 0/255"
    classes: ClassMap | None = None
    classes_source: str = ""
    pixels: np.ndarray | None = None  # pixels per trained class
    weights: np.ndarray | None = None  # median-frequency class weights
    ignored: int = 0  # pixels of the ignored class (or beyond the JPEG tolerance)
    problems: list[str] = field(default_factory=list)  # each makes the data unusable
    warnings: list[str] = field(default_factory=list)  # worth a look, but training works
    sheet: Path | None = None
    plan: object = None  # the LabelPlan, for the contact sheet and for callers
    good_pairs: list = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems and self.readable > 0

    def format(self) -> str:
        lines = [
            f"images: {self.images}",
            f"masks:  {self.masks}",
            f"pairs:  {self.pairs} ({self.readable} readable)",
            f"mask encoding: {self.encoding}",
        ]
        if self.classes is not None and self.pixels is not None:
            lines += self._class_table()
        if self.sheet is not None:
            lines.append(f"contact sheet: {self.sheet}")
        for title, items in (("warnings", self.warnings), ("problems", self.problems)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines += [f"  - {item}" for item in items]
        verdict = "usable" if self.usable else f"NOT usable: {len(self.problems)} problem(s)"
        if not self.problems and self.readable == 0:
            verdict = "NOT usable: no readable image/mask pair"
        lines.append(f"result: {verdict}")
        return "\n".join(lines)

    def _class_table(self) -> list[str]:
        total = int(self.pixels.sum())
        ids = [c.id for c in self.classes.trained]
        lines = [f"classes: {self.classes.num_classes} trained ({self.classes_source})",
                 f"  {'id':>5}  {'name':<14} {'pixels':>12} {'share':>7} {'weight':>8}"]
        for cid, name, count, weight in zip(ids, self.classes.names, self.pixels, self.weights):
            share = count / total if total else 0.0
            lines.append(f"  {cid:>5}  {name[:14]:<14} {int(count):>12} {share:>7.2%} {weight:>8.4f}")
        if self.ignored:
            lines.append(f"  ignored pixels: {self.ignored} ({self.ignored / max(1, total + self.ignored):.2%})")
        seen = self.pixels[self.pixels > 0]
        if len(seen) >= 2:
            lines.append(f"class imbalance: the largest class has {seen.max() / seen.min():.1f}x the pixels "
                         f"of the smallest")
        lines.append("median-frequency class weights: [" + ", ".join(f"{w:.4f}" for w in self.weights) + "]")
        return lines


def verify_data(images, masks, classes=None, sheet=None, tolerance: float = JPEG_TOLERANCE) -> VerifyReport:
    """Read every image and mask of a folder pair (or TIFF stack pair) and report what is wrong.

    Args:
        images: folder of images, or a multi-page TIFF.
        masks: folder of masks paired by file stem, or a multi-page TIFF.
        classes: optional classes.json; without it the classes are found from the masks.
        sheet: optional PNG path for a contact sheet of mask overlays.
        tolerance: RGB distance within which a JPEG mask pixel takes the nearest class colour.

    Raises SegcoderError only when a folder or the class list cannot be read at all;
    problems with single files are collected in the report.
    """
    images, masks = Path(images), Path(masks)
    found = match_files(images, masks)
    cmap = ClassMap.load(classes) if classes else None
    report = VerifyReport(images, masks, len(found.pairs), 0, "unknown")
    report.problems += [f"{p}: image without a mask in {masks}" for p in found.lonely_images]
    report.problems += [f"{p}: mask without an image in {images}" for p in found.lonely_masks]

    stats, channels, rotated = {}, set(), []
    for image_path, mask_path in found.pairs:
        try:
            image, image_info = read_image_info(image_path)
            mask_stats = scan_mask(mask_path)
            size = image.shape[:2]
            mask_size = mask_stats.shape
            if size != mask_size:
                raise SegcoderError(
                    f"{mask_path}: mask is {mask_size[1]}x{mask_size[0]} but its image {image_path.name} is "
                    f"{size[1]}x{size[0]}; masks must have their image's size"
                )
        except SegcoderError as exc:
            report.problems.append(str(exc))
            continue
        stats[mask_path] = mask_stats
        channels.add(image.shape[-1])
        report.good_pairs.append((image_path, mask_path))
        if mask_stats.info.rotated != image_info.rotated:
            rotated.append(mask_path if mask_stats.info.rotated else image_path)
    report.readable = len(stats)
    if not stats:
        return report
    report.encoding = _encoding_line(stats)
    if rotated:
        report.warnings.append(
            f"{len(rotated)} pair(s) where only the image or only the mask carries an EXIF rotation, e.g. {rotated[0]}; "
            "segcoder applies each file's own orientation, so check on the --sheet that they line up"
        )
    if len(channels) > 1:
        report.warnings.append("images mix gray and RGB; gray images are repeated to RGB for training")
    scan = PairScan({p: s.codes for p, s in stats.items()}, max(channels), stats)
    if cmap is None:
        try:
            cmap, report.classes_source = classes_from_masks(scan, masks), "found from the masks"
        except SegcoderError as exc:
            report.problems.append(str(exc))
            return report
    else:
        report.classes_source = str(classes)
    report.classes = cmap
    plan = match_classes(cmap, scan, classes, tolerance)
    report.plan = plan
    report.problems += plan.problems
    for path, n in plan.beyond.items():
        if n and not any(str(path) in p for p in plan.problems):
            report.warnings.append(f"{path}: {n} JPEG pixels further than {tolerance:g} from every class colour "
                                   "are ignored")
    bad = {p for p in stats if any(line.startswith(f"{p}:") for line in plan.problems)}
    good = PairScan({p: c for p, c in scan.values.items() if p not in bad}, scan.channels,
                    {p: s for p, s in stats.items() if p not in bad})
    counts, present = class_pixels(good, plan.lut, cmap.num_classes)
    report.pixels, report.weights = counts, median_frequency_weights(counts, present)
    report.ignored = sum(s.pixels for s in good.stats.values()) - int(counts.sum())
    absent = [name for name, n in zip(cmap.names, counts) if n == 0]
    if absent:
        report.warnings.append(f"classes with no pixels in any mask: {', '.join(absent)}")
    if sheet is not None:
        from segcoder.data.sheet import write_sheet

        report.sheet = write_sheet(report.good_pairs, plan.lut, cmap, sheet)
    return report


def _encoding_line(stats: dict) -> str:
    kinds = [s.kind for s in stats.values()]
    formats = sorted({f"{s.info.format} {s.info.mode}" for s in stats.values()})
    return f"{summarise(kinds)} ({', '.join(formats[:4])}{', ...' if len(formats) > 4 else ''})"
