"""Hostile and broken files: every reader gives a correct array or a SegcoderError naming the file, never a crash."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from segcoder.cli import main
from segcoder.data.io import IMAGE_SUFFIXES, image_size, read_image, read_mask
from segcoder.data.verify import verify_data
from segcoder.errors import SegcoderError


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def bomb_png(width: int = 50000, height: int = 50000) -> bytes:
    """A tiny valid PNG whose header claims ``width`` x ``height`` pixels."""
    data = bytearray(png_bytes(np.zeros((1, 1), np.uint8)))
    ihdr = 8 + 8  # signature, then chunk length and type
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:ihdr + 13]))
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def jpeg_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG")
    return buf.getvalue()


RNG = np.random.default_rng(0)
NOISE = RNG.integers(0, 255, (64, 64), dtype=np.uint8)


def broken_files() -> dict[str, bytes]:
    """name -> file contents of each broken case; the names' suffixes are what a user would see."""
    five = io.BytesIO()
    tifffile.imwrite(five, np.zeros((8, 8, 5), np.uint8), photometric="minisblack", planarconfig="contig")
    complex_tif = io.BytesIO()
    tifffile.imwrite(complex_tif, np.zeros((8, 8), np.complex64))
    return {
        "truncated.png": png_bytes(NOISE)[: len(png_bytes(NOISE)) // 2],
        "truncated.jpg": jpeg_bytes(NOISE)[: len(jpeg_bytes(NOISE)) // 2],
        "empty.png": b"",
        "text.png": b"this is not an image, just a text file named .png\n",
        "bomb.png": bomb_png(),
        "five_channels.tif": five.getvalue(),
        "complex.tif": complex_tif.getvalue(),
    }


@pytest.mark.parametrize("name", list(broken_files()))
@pytest.mark.parametrize("reader", [read_image, read_mask, image_size])
def test_broken_file_gives_error_naming_it(tmp_path, name, reader):
    path = tmp_path / name
    path.write_bytes(broken_files()[name])
    try:
        size = reader(path)
    except SegcoderError as exc:
        assert str(path) in str(exc)
    else:  # truncated files and unsupported modes have intact headers: only reading a header may succeed
        assert reader is image_size
        assert size == {"truncated.png": (64, 64), "truncated.jpg": (64, 64),
                        "five_channels.tif": (8, 8), "complex.tif": (8, 8)}[name]


def test_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png())
    with pytest.raises(SegcoderError, match="not a readable image|more than segcoder reads"):
        read_image(path)


def test_verify_lists_every_broken_file_and_exits_2(tmp_path, capsys):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    cases = broken_files()
    for name, data in cases.items():
        stem = name.replace(".", "_")
        Image.fromarray(NOISE).save(images / f"{stem}.png")
        (masks / f"{stem}{name[name.rindex('.'):]}").write_bytes(data)
    # a good pair, and a good mask whose image is broken
    Image.fromarray(NOISE).save(images / "good.png")
    Image.fromarray((NOISE > 128).astype(np.uint8)).save(masks / "good.png")
    (images / "badimage.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    Image.fromarray((NOISE > 128).astype(np.uint8)).save(masks / "badimage.png")

    report = verify_data(images, masks)
    assert not report.usable
    assert report.readable == 1
    assert len(report.problems) == len(cases) + 1
    for name in cases:
        assert any(name.replace(".", "_") in p for p in report.problems), name
    assert any("badimage.png" in p for p in report.problems)

    code = main(["data", "verify", "--images", str(images), "--masks", str(masks)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    assert f"problems ({len(cases) + 1})" in out


# ---------------------------------------------------------------------------------------------
# Property-based: random bytes and random valid images of random modes, sizes and formats.

MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00", b"MM\x00*", b"BM"]
# SEGCODER_FUZZ_EXAMPLES=5000 runs a longer hunt; the default keeps the suite fast.
FUZZ = settings(max_examples=int(os.environ.get("SEGCODER_FUZZ_EXAMPLES", "100")), deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_outcome(path):
    """Each reader returns a well-formed array, or raises SegcoderError naming the file."""
    try:
        image = read_image(path)
    except SegcoderError as exc:
        assert str(path) in str(exc)
    else:
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[-1] in (1, 3)
        assert image.size > 0 and float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    try:
        mask = read_mask(path)
    except SegcoderError as exc:
        assert str(path) in str(exc)
        mask = None
    else:
        assert mask.ndim == 2 and mask.dtype in (np.uint8, np.uint16, np.uint32)
    try:
        size = image_size(path)
    except SegcoderError as exc:
        assert str(path) in str(exc)
    else:
        if mask is not None:
            assert size == mask.shape
    return mask


@FUZZ
@given(magic=st.sampled_from(MAGIC), body=st.binary(max_size=600), suffix=st.sampled_from(IMAGE_SUFFIXES))
def test_random_bytes_never_crash(tmp_path, magic, body, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(magic + body)
    check_outcome(path)


MODES = ["1", "L", "P", "RGB", "RGBA", "I;16", "I", "F", "LA", "PA", "CMYK", "YCbCr"]
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "TIFF": ".tif"}


@FUZZ
@given(mode=st.sampled_from(MODES), fmt=st.sampled_from(list(FORMATS)), h=st.integers(1, 24), w=st.integers(1, 24),
       seed=st.integers(0, 2**16), cut=st.sampled_from([None, 0.3, 0.7]))
def test_random_valid_images_of_any_mode(tmp_path, mode, fmt, h, w, seed, cut):
    rng = np.random.default_rng(seed)
    gray = rng.integers(0, 256, (h, w), dtype=np.uint8)
    im = Image.fromarray(gray).convert(mode)
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
    except (OSError, ValueError, KeyError, TypeError):
        return  # Pillow cannot write this mode in this format; nothing to read
    data = buf.getvalue()
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path = tmp_path / f"image{FORMATS[fmt]}"
    path.write_bytes(data)
    mask = check_outcome(path)
    if cut is None:
        image = read_image(path)  # a complete file of a mode segcoder lists must read
        assert image.shape[:2] == (h, w)
        if mode == "L" and fmt in ("PNG", "BMP", "TIFF"):
            np.testing.assert_array_equal(mask, gray)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # tifffile's notes on how it stores 3-D arrays
@FUZZ
@given(shape=st.sampled_from([(5, 7), (5, 7, 3), (3, 5, 7), (2, 5, 7), (5, 7, 4), (5, 7, 2), (5, 7, 5), (1, 1)]),
       dtype=st.sampled_from(["uint8", "uint16", "int16", "float32", "bool", "int32"]), seed=st.integers(0, 99))
def test_random_tiffs(tmp_path, shape, dtype, seed):
    array = (np.random.default_rng(seed).random(shape) * 300).astype(dtype)
    path = tmp_path / "random.tif"
    tifffile.imwrite(path, array)
    check_outcome(path)
