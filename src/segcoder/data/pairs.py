"""Pairing image files with mask files by file stem."""

from __future__ import annotations

from pathlib import Path

from segcoder.data.io import IMAGE_SUFFIXES
from segcoder.errors import SegcoderError


def list_images(folder: str | Path, role: str = "images") -> list[Path]:
    """The image files of ``folder``, sorted by name; hidden files are skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise SegcoderError(f"{folder}: {role} folder not found; check the path")
    if not folder.is_dir():
        raise SegcoderError(f"{folder}: expected a folder of {role}, found a file")
    files = sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise SegcoderError(
            f"{folder}: no {role} found (looked for {', '.join(IMAGE_SUFFIXES)}); check the path"
        )
    return files


def _by_stem(files: list[Path], folder: Path, role: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in files:
        if path.stem in found:
            raise SegcoderError(
                f"{folder}: two {role} share the stem '{path.stem}' ({found[path.stem].name}, {path.name}); "
                "rename one of them"
            )
        found[path.stem] = path
    return found


def find_pairs(images: str | Path, masks: str | Path) -> list[tuple[Path, Path]]:
    """Pair each image with the mask of the same stem (the extensions may differ).

    Raises SegcoderError listing every file without a partner.
    """
    images, masks = Path(images), Path(masks)
    image_files = _by_stem(list_images(images, "images"), images, "images")
    mask_files = _by_stem(list_images(masks, "masks"), masks, "masks")
    lonely_images = sorted(set(image_files) - set(mask_files))
    lonely_masks = sorted(set(mask_files) - set(image_files))
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(f"images without a mask in {masks}: {_short([image_files[s].name for s in lonely_images])}")
        if lonely_masks:
            parts.append(f"masks without an image in {images}: {_short([mask_files[s].name for s in lonely_masks])}")
        raise SegcoderError("; ".join(parts) + "; add the missing files or remove the extra ones")
    return [(image_files[s], mask_files[s]) for s in sorted(image_files)]


def _short(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
