"""Image files written band by band, so an output never has to fit in memory, and atomically.

Each writer fills a temporary file beside the target and renames it onto the
target in :meth:`commit`; :meth:`discard` (or a crash) leaves no file behind.

- :class:`PngStream`: 8/16-bit gray or RGB PNG, rows compressed as they arrive.
- :class:`RawStream`: uncompressed TIFF (one page per stack slice) or ``.npy``,
  laid out first and then filled at known offsets.

Example:
    >>> out = PngStream("big_mask.png", height=12000, width=12000, channels=1, dtype=np.uint8)
    >>> for y0, rows in bands:
    ...     out.write_rows(0, y0, rows)
    >>> out.commit()
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from pathlib import Path

import numpy as np

from segcoder._atomic import atomic_path


class _Pending:
    """A temporary file that becomes ``path`` on commit (built on :func:`segcoder._atomic.atomic_path`)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        self.tmp = Path(self._stack.enter_context(atomic_path(self.path)))
        self.rows_written = 0

    def _commit(self) -> Path:
        self._stack.close()
        return self.path

    def _discard(self) -> None:
        self._stack.__exit__(RuntimeError, RuntimeError("discarded"), None)


class PngStream(_Pending):
    """A PNG written row band by row band (Sub-filtered, zlib-compressed on the fly)."""

    def __init__(self, path, height: int, width: int, channels: int, dtype=np.uint8, level: int = 6):
        super().__init__(path)
        self.height, self.width, self.channels = height, width, channels
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.uint8, np.uint16) or channels not in (1, 3):
            raise ValueError(f"PNG holds 8/16-bit gray or RGB, not {channels} x {self.dtype}")
        self._file = open(self.tmp, "wb")
        self._zip = zlib.compressobj(level)
        color_type = 0 if channels == 1 else 2
        self._file.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8 * self.dtype.itemsize, color_type, 0, 0, 0))

    def _chunk(self, kind: bytes, data: bytes) -> None:
        self._file.write(struct.pack(">I", len(data)) + kind + data)
        self._file.write(struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def write_rows(self, page: int, y0: int, rows: np.ndarray) -> None:
        """Append ``rows`` (r, W[, C]); bands must come in order, top to bottom."""
        if page != 0 or y0 != self.rows_written:
            raise ValueError(f"{self.path}: PNG rows must be written in order (expected row {self.rows_written})")
        data = np.ascontiguousarray(rows, dtype=self.dtype.newbyteorder(">"))
        data = data.reshape(len(rows), -1).view(np.uint8)
        bpp = self.channels * self.dtype.itemsize
        # Sub filter: each byte minus the same byte of the pixel to its left (mod 256).
        filtered = np.empty((len(rows), data.shape[1] + 1), np.uint8)
        filtered[:, 0] = 1
        filtered[:, 1:bpp + 1] = data[:, :bpp]
        np.subtract(data[:, bpp:], data[:, :-bpp], out=filtered[:, bpp + 1:])
        packed = self._zip.compress(filtered.tobytes())
        if packed:
            self._chunk(b"IDAT", packed)
        self.rows_written += len(rows)

    def commit(self) -> Path:
        if self.rows_written != self.height:
            raise ValueError(f"{self.path}: {self.rows_written} of {self.height} rows written")
        self._chunk(b"IDAT", self._zip.flush())
        self._chunk(b"IEND", b"")
        self._file.close()
        return self._commit()

    def discard(self) -> None:
        self._file.close()
        self._discard()


class RawStream(_Pending):
    """An uncompressed TIFF (``.tif``; one page per slice) or ``.npy`` file, filled at known offsets.

    Args:
        path: target; the suffix picks the format.
        pages: slices (1 for a single image); a ``.npy`` of one page has no page axis.
        height, width, channels: size of each page; ``channels`` 1 stores (H, W).
        dtype: stored dtype (uint8, uint16, float16, ...).
    """

    def __init__(self, path, pages: int, height: int, width: int, channels: int, dtype):
        super().__init__(path)
        self.pages, self.height, self.width, self.channels = pages, height, width, channels
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.row_bytes = width * channels * self.dtype.itemsize
        if self.path.suffix.lower() == ".npy":
            self.offsets = self._layout_npy()
        else:
            self.offsets = self._layout_tiff()
        self._file = open(self.tmp, "r+b")

    def _layout_npy(self) -> list[int]:
        shape = (self.pages,) if self.pages > 1 else ()
        shape += (self.height, self.width) + ((self.channels,) if self.channels > 1 else ())
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        with open(self.tmp, "wb") as f:
            np.lib.format.write_array_header_2_0(f, header)
            start = f.tell()
            page_bytes = self.height * self.row_bytes
            f.truncate(start + self.pages * page_bytes)  # sparse until filled
        return [start + i * page_bytes for i in range(self.pages)]

    def _layout_tiff(self) -> list[int]:
        import tifffile

        shape = (self.height, self.width) + ((self.channels,) if self.channels > 1 else ())
        rgb = self.channels == 3 and self.dtype == np.uint8
        options = {"photometric": "rgb" if rgb else "minisblack", "metadata": None}
        if self.channels > 1:
            options["planarconfig"] = "contig"
            if not rgb:
                options["extrasamples"] = (0,) * (self.channels - 1)
        big = self.pages * self.height * self.row_bytes > 2**32 - 2**25
        with tifffile.TiffWriter(self.tmp, bigtiff=big, byteorder="<") as tif:
            for _ in range(self.pages):
                tif.write(shape=shape, dtype=self.dtype, **options)  # no data: space is left to fill
        with tifffile.TiffFile(self.tmp) as tif:
            offsets = []
            for page in tif.pages:
                if not page.is_contiguous or page.dataoffsets[0] == 0:
                    raise RuntimeError(f"{self.path}: tifffile did not lay out a contiguous page")
                offsets.append(int(page.dataoffsets[0]))
        return offsets

    def write_rows(self, page: int, y0: int, rows: np.ndarray) -> None:
        """Write ``rows`` (r, W[, C]) of page ``page`` starting at row ``y0``."""
        data = np.ascontiguousarray(rows, dtype=self.dtype)
        if data.size * self.dtype.itemsize != len(rows) * self.row_bytes:
            raise ValueError(f"{self.path}: rows of shape {rows.shape} do not fit width {self.width}")
        self._file.seek(self.offsets[page] + y0 * self.row_bytes)
        self._file.write(data.tobytes())
        self.rows_written += len(rows)

    def commit(self) -> Path:
        if self.rows_written != self.pages * self.height:
            raise ValueError(f"{self.path}: {self.rows_written} of {self.pages * self.height} rows written")
        self._file.close()
        return self._commit()

    def discard(self) -> None:
        self._file.close()
        self._discard()
