"""Predicting many files into a folder: resumable, with progress, and one bad file never stops the batch.

An output that exists and is newer than both its input and the model is
kept; an input with all its outputs kept is skipped, so an interrupted run is
simply started again (``force`` redoes everything). Outputs are written
atomically, so one that exists is complete.

Example:
    >>> result = predict_files("runs/membrane", ["scans/"], "out", save="index,prob", tta="flip")
    >>> result.summary()
    '12 done, 0 skipped, 1 failed in 0:00:41 (23.5 tiles/s)'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from segcoder.data.pairs import index_by_stem
from segcoder.errors import SegcoderError
from segcoder.outputs import DEFAULT_SAVE, OutputSet, output_paths, parse_save
from segcoder.predict import (
    DEFAULT_BATCH, DEFAULT_OVERLAP, DEFAULT_TILE, count_tiles, load, logit_bands, prepare,
)
from segcoder.progress import Progress, format_seconds
from segcoder.run import MODEL_FILE
from segcoder.sources import Source, expand_inputs, open_source, pixel_scale, read_page
from segcoder.tiling import plan_tiles
from segcoder.tta import check_tta


@dataclass
class BatchResult:
    """What a batch did: inputs done, skipped (already complete) and failed (with the reason)."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    tiles: int = 0  # tiles predicted (before TTA)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        rate = self.tiles / self.seconds if self.seconds > 0 else 0.0
        return (f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed "
                f"in {format_seconds(self.seconds)} ({rate:.1f} tiles/s)")


def _check_stems(files: list[Path]) -> None:
    index_by_stem(files, lambda first, second: (
        f"{first} and {second} would write the same outputs (stem '{first.stem}'); "
        "rename one or predict them into different --out folders"))


def _is_current(path: Path, newer_than: float) -> bool:
    return path.is_file() and path.stat().st_mtime >= newer_than


def predict_source(segmenter, source: Source, outputs: OutputSet, **options) -> None:
    """Predict every page of ``source`` into ``outputs`` (not committed); options as for :func:`logit_bands`."""
    for page in range(source.pages):
        raw = read_page(source, page)
        if raw.shape[:2] != (source.height, source.width):
            raise SegcoderError(f"{source.path}: page {page} is {raw.shape[:2]}, not {source.height}x{source.width}")
        scale = pixel_scale(raw)
        for y0, logits in logit_bands(segmenter, raw, scale, **options):
            image = None
            if outputs.needs_image:
                image = prepare(raw[y0:y0 + len(logits)], scale, 1 if raw.shape[-1] == 1 else 3)
            outputs.write(page, y0, logits, image)


def _open(path: Path) -> Source | SegcoderError:
    """The header of ``path``, or the error reading it (reported when its turn comes)."""
    try:
        return open_source(path)
    except SegcoderError as exc:
        return exc


def _predict_one(segmenter, source: Source, paths: dict[str, Path], options: dict, bar: Progress) -> list[Path]:
    """Write the outputs ``paths`` of one input; nothing is left behind if it fails."""
    outputs = OutputSet(paths, segmenter.classes, source.pages, source.height, source.width)
    try:
        predict_source(segmenter, source, outputs, on_tiles=bar.tiles, **options)
        return outputs.commit()
    except BaseException:
        outputs.discard()
        raise


def predict_files(
    run_dir, inputs, out_dir, save=DEFAULT_SAVE, prob_format: str = "tif", tta: str = "none",
    tile: int | None = DEFAULT_TILE, overlap: float = DEFAULT_OVERLAP, batch_size: int = DEFAULT_BATCH,
    engine: str = "keras", force: bool = False, log=print, progress: bool = False,
) -> BatchResult:
    """Predict image files, folders and TIFF stacks into ``out_dir``.

    Args:
        run_dir: a finished training run folder.
        inputs: image files, folders of images, multi-page TIFF stacks.
        out_dir: where outputs go, named ``<stem>_mask.png`` etc. (see :mod:`segcoder.outputs`).
        save: output kinds, "index,color,overlay,prob" or a list of them.
        prob_format: "tif" (float16 TIFF) or "npy" for probability maps.
        tta, tile, overlap, batch_size: as for :func:`segcoder.predict.logit_bands`.
        engine: "keras" or "onnx".
        force: redo inputs whose outputs already exist.
        log: receives one line per finished or failed input when there is no progress bar.
        progress: draw a progress bar, failures and a final summary on stderr instead.

    Returns a :class:`BatchResult`; a failed input is reported and counted, never raised.
    """
    kinds = parse_save(save)
    check_tta(tta)
    segmenter = load(run_dir, engine)
    if tile is not None:
        plan_tiles(tile, tile, tile, overlap, segmenter.stride)  # checks tile and overlap before any work
    files = expand_inputs(inputs)
    _check_stems(files)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SegcoderError(f"{out_dir}: exists and is a file; give a folder as --out")
    model_files = [Path(run_dir) / MODEL_FILE]
    if engine == "onnx":
        from segcoder.export import ONNX_FILE

        model_files.append(Path(run_dir) / ONNX_FILE)
    # Outputs older than the model are stale (the run was trained again): they are redone, not skipped.
    model_time = max((f.stat().st_mtime for f in model_files if f.is_file()), default=0.0)
    options = {"tta": tta, "tile": tile, "overlap": overlap, "batch_size": batch_size}

    sources = [_open(path) for path in files]
    tiles = [0 if isinstance(s, SegcoderError) else s.pages * count_tiles(
        s.height, s.width, tile, overlap, segmenter.stride, segmenter.image_scale) for s in sources]
    bar = Progress(len(files), sum(tiles), stream=None if progress else _Silent())
    report = bar.message if progress else log
    result = BatchResult()
    for path, source, n_tiles in zip(files, sources, tiles):
        bar.start(path.name)
        predicted = bar.done_tiles
        try:
            if isinstance(source, SegcoderError):
                raise source
            paths = output_paths(out_dir, path.stem, kinds, source.stack, prob_format)
            newer_than = max(path.stat().st_mtime, model_time)
            paths = {k: p for k, p in paths.items() if force or not _is_current(p, newer_than)}
            if not paths:
                result.skipped.append(path)
                bar.finish("skipped", n_tiles)
                continue
            result.written.extend(_predict_one(segmenter, source, paths, options, bar))
        except Exception as exc:  # one bad file must not stop the batch: count it and go on
            reason = str(exc) if isinstance(exc, SegcoderError) else f"{path}: {exc.__class__.__name__}: {exc}"
            result.failed.append((path, reason))
            bar.finish("failed", n_tiles - (bar.done_tiles - predicted))
            report(f"failed: {reason}")
            continue
        result.done.append(path)
        bar.finish("done")
        if not progress:
            log(f"[{bar.seen}/{len(files)}] {path} -> {out_dir}")
    result.tiles = bar.done_tiles
    result.seconds = time.monotonic() - bar.begin
    if progress:
        bar.close()
    return result


class _Silent:
    """A stream that drops what it is given (no progress bar asked for)."""

    def write(self, text):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False
