"""Converting masks of any supported encoding into index PNGs plus the classes.json used.

The output folder appears complete or not at all: everything is written into a
hidden temporary folder beside it, which is renamed onto the output at the end.

Example:
    >>> convert_masks("annotations_rgb", "classes.json", "masks").files
    120
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segcoder._atomic import replace_dir
from segcoder.data.classes import IGNORE_LABEL, ClassInfo, ClassMap
from segcoder.data.encodings import JPEG_TOLERANCE, summarise
from segcoder.data.io import read_mask
from segcoder.data.masks import PairScan, match_classes, scan_mask, to_labels
from segcoder.data.pairs import list_items
from segcoder.errors import SegcoderError


@dataclass
class ConvertResult:
    out: Path
    files: int  # index PNGs written
    encoding: str  # the input encoding detected
    beyond: int  # JPEG pixels further than the tolerance from every class colour
    classes: ClassMap  # the class list written beside the masks


def _with_void(cmap: ClassMap) -> ClassMap:
    """The class list plus an ignored 'void' class, for pixels that match no class colour."""
    used = {c.id for c in cmap.classes}
    new_id = 255 if 255 not in used else max(used) + 1
    colours = {c.color for c in cmap.classes}
    colour = (0, 0, 0) if (0, 0, 0) not in colours else (255, 0, 255)
    return ClassMap(cmap.classes + [ClassInfo(new_id, "void", colour)], new_id, cmap.name, dict(cmap.extra))


def convert_masks(masks, classes, out, tolerance: float = JPEG_TOLERANCE, overwrite: bool = False) -> ConvertResult:
    """Write each mask of ``masks`` as an index PNG holding class ids, and ``classes.json``, into ``out``.

    Args:
        masks: folder of masks (any supported encoding), or a multi-page TIFF of masks.
        classes: classes.json giving the ids, and the colours colour masks are mapped through.
        out: output folder; it must not exist unless ``overwrite``.
        tolerance: RGB distance within which a JPEG pixel takes the nearest class colour.

    Pixels of JPEG masks beyond the tolerance get the ignored class (a 'void' class
    is added when the list has none). Raises SegcoderError listing every mask that
    does not fit the class list; nothing is written then.
    """
    masks, out = Path(masks), Path(out)
    if out.exists() and not overwrite:
        raise SegcoderError(f"{out}: already exists; pass --overwrite or choose another --out")
    if out.resolve() == masks.resolve():
        raise SegcoderError(f"{out}: the output must differ from the input masks")
    cmap = ClassMap.load(classes)
    items = list_items(masks, "masks")
    stats, problems = {}, []
    for item in items:
        try:
            stats[item] = scan_mask(item)
        except SegcoderError as exc:
            problems.append(str(exc))
    scan = PairScan({p: s.codes for p, s in stats.items()}, 1, stats)
    plan = match_classes(cmap, scan, classes, tolerance) if stats else None
    if plan is not None:
        problems += plan.problems
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise SegcoderError(f"cannot convert {len(problems)} mask(s): " + "; ".join(problems[:5]) + more)
    beyond = sum(plan.beyond.values())
    written_map = _with_void(cmap) if beyond and cmap.ignore_index is None else cmap
    ids = np.array([c.id for c in written_map.trained] + [0] * (256 - written_map.num_classes), np.int64)
    ids[IGNORE_LABEL] = written_map.ignore_index if written_map.ignore_index is not None else 0
    dtype = np.uint16 if ids.max() > 255 else np.uint8

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        for item in items:
            values = ids[to_labels(read_mask(item), plan.lut)].astype(dtype)
            Image.fromarray(values).save(work / f"{item.stem}.png", format="PNG")
        written_map.save(work / "classes.json")
        os.chmod(work, 0o755)  # mkdtemp makes it private
        replace_dir(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    kinds = summarise([s.kind for s in stats.values()])
    return ConvertResult(out, len(items), kinds, beyond, written_map)
