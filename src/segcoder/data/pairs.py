"""Pairing image files with mask files by file stem, or TIFF stack pages by page number."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segcoder.data.io import IMAGE_SUFFIXES
from segcoder.data.tiff import is_tiff, stack_pages
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


def list_items(source: str | Path, role: str = "images") -> list:
    """The images of a folder (paths), or the pages of a multi-page TIFF (:class:`~segcoder.data.tiff.Page`)."""
    source = Path(source)
    if source.is_file():
        if not is_tiff(source):
            raise SegcoderError(f"{source}: expected a folder of {role} or a multi-page TIFF stack")
        pages = stack_pages(source)
        if not pages:
            raise SegcoderError(f"{source}: the TIFF holds no pages; replace or remove it")
        return pages
    return list_images(source, role)


def index_by_stem(files: list, clash) -> dict:
    """``{stem: file}``; two files with one stem raise ``SegcoderError(clash(first, second))``."""
    found: dict = {}
    for path in files:
        if path.stem in found:
            raise SegcoderError(clash(found[path.stem], path))
        found[path.stem] = path
    return found


def _by_stem(files: list, folder: Path, role: str) -> dict:
    return index_by_stem(files, lambda first, second: (
        f"{folder}: two {role} share the stem '{first.stem}' ({first.name}, {second.name}); rename one of them"))


@dataclass
class Matching:
    """The result of pairing two folders: the pairs, and the files without a partner."""

    pairs: list  # (image, mask) tuples, sorted by stem
    lonely_images: list  # images without a mask
    lonely_masks: list  # masks without an image


def match_files(images: str | Path, masks: str | Path) -> Matching:
    """Pair images and masks without raising for files that have no partner.

    Two folders pair by file stem (the extensions may differ). Two multi-page
    TIFF stacks pair page by page; extra pages of the longer stack are lonely.
    """
    images, masks = Path(images), Path(masks)
    image_items, mask_items = list_items(images, "images"), list_items(masks, "masks")
    if images.is_file() != masks.is_file():
        raise SegcoderError(
            f"{images if images.is_file() else masks}: a TIFF stack pairs only with another stack; "
            "give both --images and --masks as stacks, or both as folders"
        )
    if images.is_file():
        n = min(len(image_items), len(mask_items))
        return Matching(list(zip(image_items[:n], mask_items[:n])), image_items[n:], mask_items[n:])
    image_files = _by_stem(image_items, images, "images")
    mask_files = _by_stem(mask_items, masks, "masks")
    return Matching(
        [(image_files[s], mask_files[s]) for s in sorted(set(image_files) & set(mask_files))],
        [image_files[s] for s in sorted(set(image_files) - set(mask_files))],
        [mask_files[s] for s in sorted(set(mask_files) - set(image_files))],
    )


def find_pairs(images: str | Path, masks: str | Path) -> list[tuple]:
    """Pair each image with the mask of the same stem (the extensions may differ).

    ``images`` and ``masks`` may also both be multi-page TIFF stacks (e.g.
    ``train-volume.tif`` and ``train-labels.tif``): page i pairs with page i.
    Raises SegcoderError listing every file without a partner.
    """
    images, masks = Path(images), Path(masks)
    found = match_files(images, masks)
    if found.lonely_images or found.lonely_masks:
        parts = []
        if found.lonely_images:
            parts.append(f"images without a mask in {masks}: {_short([p.name for p in found.lonely_images])}")
        if found.lonely_masks:
            parts.append(f"masks without an image in {images}: {_short([p.name for p in found.lonely_masks])}")
        raise SegcoderError("; ".join(parts) + "; add the missing files or remove the extra ones")
    return found.pairs


def _short(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
