"""data fetch/list through a local mirror (../shared/datasets): layout, checksums, failures and resume."""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from segcoder.cli import main
from segcoder.data.classes import ClassMap
from segcoder.data.fetch import dataset_table, fetch_dataset, list_datasets
from segcoder.errors import SegcoderError

NAME = "isbi2012-membrane"


def link_mirror(source_root, mirror_root, corrupt: str | None = None):
    """A mirror of NAME made of symlinks to the shared files, with one file replaced by a corrupted copy."""
    for entry in dataset_table()[NAME]["files"]:
        target = mirror_root / NAME / entry["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry["path"] == corrupt:
            data = bytearray((source_root / NAME / entry["path"]).read_bytes())
            data[len(data) // 2] ^= 0xFF
            target.write_bytes(bytes(data))
        else:
            target.symlink_to(source_root / NAME / entry["path"])
    return mirror_root


def test_fetch_from_mirror_lays_out_a_verified_dataset(isbi, tmp_path, capsys):
    result = fetch_dataset(NAME, tmp_path / "cache", mirror=isbi.parent, log=lambda line: None)
    root = tmp_path / "cache" / NAME
    assert result.root == root and result.files == result.fetched == 78 and result.resumed == 0
    assert len(list((root / "train/images").iterdir())) == 24 == len(list((root / "train/masks").iterdir()))
    assert (root / "train/masks/slice07.png").read_bytes() == (isbi / "train/masks/slice07.png").read_bytes()
    assert [c.id for c in ClassMap.load(root / "classes.json").trained] == [0, 255]
    assert not list(root.rglob("*.part"))

    again = fetch_dataset(NAME, tmp_path / "cache", mirror=isbi.parent, log=lambda line: None)
    assert again.fetched == 0 and again.bytes_copied == 0  # checked and kept

    assert main(["data", "list", "--dest", str(tmp_path / "cache")]) == 0
    listing = capsys.readouterr().out
    assert f"{NAME}     78 files" in listing and "cache: complete" in listing
    assert main(["data", "verify", "--images", str(root / "train/images"), "--masks", str(root / "train/masks"),
                 "--classes", str(root / "classes.json")]) == 0
    assert "binary 0/255" in capsys.readouterr().out


def test_checksum_failure_names_the_file_and_deletes_it(isbi, tmp_path, capsys):
    bad = "train/masks/slice03.png"
    mirror = link_mirror(isbi.parent, tmp_path / "mirror", corrupt=bad)
    code = main(["data", "fetch", NAME, "--dest", str(tmp_path / "cache"), "--mirror", str(mirror)])
    err = capsys.readouterr().err
    assert code == 2
    assert "slice03.png: checksum mismatch" in err and "deleted" in err
    target = tmp_path / "cache" / NAME / bad
    assert not target.exists() and not target.with_name(target.name + ".part").exists()


def test_partial_download_resumes(isbi, tmp_path):
    entry = next(e for e in dataset_table()[NAME]["files"] if e["path"] == "test/images/slice05.png")
    target = tmp_path / "cache" / NAME / entry["path"]
    target.parent.mkdir(parents=True)
    half = entry["size"] // 2
    target.with_name(target.name + ".part").write_bytes((isbi / entry["path"]).read_bytes()[:half])
    result = fetch_dataset(NAME, tmp_path / "cache", mirror=isbi.parent, log=lambda line: None)
    total = sum(e["size"] for e in dataset_table()[NAME]["files"])
    assert result.resumed == 1
    assert result.bytes_copied == total - half
    assert target.read_bytes() == (isbi / entry["path"]).read_bytes()


def test_partial_file_of_another_version_restarts_once(isbi, tmp_path):
    entry = dataset_table()[NAME]["files"][0]
    target = tmp_path / "cache" / NAME / entry["path"]
    target.parent.mkdir(parents=True)
    target.with_name(target.name + ".part").write_bytes(b"\0" * 100)  # not a prefix of the real file
    result = fetch_dataset(NAME, tmp_path / "cache", mirror=isbi.parent, log=lambda line: None)
    assert target.read_bytes() == (isbi / entry["path"]).read_bytes()
    assert result.resumed == 0


def test_mirror_from_environment_and_bad_names(isbi, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCODER_DATA_MIRROR", str(isbi.parent))
    result = fetch_dataset(NAME, tmp_path / "cache", log=lambda line: None)
    assert result.fetched == 78
    with pytest.raises(SegcoderError, match="unknown dataset 'mnist'"):
        fetch_dataset("mnist", tmp_path / "cache")
    with pytest.raises(SegcoderError, match="not found; the mirror needs the layout"):
        fetch_dataset("camvid", tmp_path / "cache", mirror=tmp_path / "nowhere")


def test_table_covers_both_datasets(camvid, tmp_path):
    table = dataset_table()
    assert set(table) == {"isbi2012-membrane", "camvid"}
    cam = table["camvid"]
    assert len(cam["files"]) == 2 * (367 + 101)
    assert {e["upstream"].split("/")[0] for e in cam["files"]} == {"train", "trainannot", "val", "valannot"}
    on_disk = {str(p.relative_to(camvid)) for p in camvid.rglob("*.png")}
    assert on_disk == {e["path"] for e in cam["files"]}
    assert ClassMap.from_dict(cam["classes"]).num_classes == 11
    statuses = {s.name: s for s in list_datasets(tmp_path)}
    assert statuses["camvid"].present == 0


class RangeHandler(SimpleHTTPRequestHandler):
    """A static file server that honours ``Range: bytes=N-`` (the stdlib one ignores it)."""

    requests: list = []

    def log_message(self, *args):
        pass

    def send_head(self):
        header = self.headers.get("Range")
        RangeHandler.requests.append((self.path, header))
        path = self.translate_path(self.path)
        if not header or not os.path.isfile(path):
            return super().send_head()
        start = int(header.split("=")[1].rstrip("-"))
        size = os.path.getsize(path)
        f = open(path, "rb")
        f.seek(start)
        self.send_response(206)
        self.send_header("Content-Length", str(size - start))
        self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        return f


def test_download_over_http_resumes_with_range(isbi, tmp_path):
    upstream = tmp_path / "upstream"
    for entry in dataset_table()[NAME]["files"]:
        target = upstream / entry["upstream"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(isbi / entry["path"])
    entry = dataset_table()[NAME]["files"][5]
    part = tmp_path / "cache" / NAME / (entry["path"] + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes((isbi / entry["path"]).read_bytes()[:1000])

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(upstream)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        result = fetch_dataset(NAME, tmp_path / "cache", log=lambda line: None, base_url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert result.fetched == 78 and result.resumed == 1
    assert (f"/{entry['upstream']}", "bytes=1000-") in RangeHandler.requests
    assert (tmp_path / "cache" / NAME / entry["path"]).read_bytes() == (isbi / entry["path"]).read_bytes()
    with pytest.raises(SegcoderError, match="download failed"):
        fetch_dataset("camvid", tmp_path / "cache", log=lambda line: None, base_url=url)  # server is gone
