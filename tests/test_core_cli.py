"""The command line as a user runs it: train -> predict -> evaluate, the demo, and every bad-input case."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segcoder.cli import main
from tests.conftest import ROOT

TINY = ["--depth", "2", "--filters", "4", "--epochs", "1", "--batch-size", "2", "--steps-per-epoch", "2",
        "--crop-size", "32", "--workers", "1"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_user_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert str(needle) in lines[0], lines[0]


def link_pairs(src: Path, dest: Path, names) -> Path:
    """Symlinks to chosen files of a shared dataset split (the data is never copied)."""
    for sub in ("images", "masks"):
        (dest / sub).mkdir(parents=True)
        for name in names:
            os.symlink(src / sub / name, dest / sub / name)
    return dest


def test_train_predict_evaluate_on_synthetic(synthetic_data, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, _ = run_cli(["train", "--images", synthetic_data / "train/images",
                            "--masks", synthetic_data / "train/masks", "--val-split", "0.25",
                            "--classes", synthetic_data / "classes.json", "--seed", "3", *TINY, "--out", run], capsys)
    assert code == 0, out
    for name in ("model.keras", "config.yaml", "classes.json", "history.csv", "curves.png", "metrics.json"):
        assert (run / name).is_file(), name
    assert "seed: 3" in (run / "config.yaml").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_iou"] <= 1.0 and metrics["images"] == 2

    code, out, _ = run_cli(["predict", run, synthetic_data / "val/images", "--out", tmp_path / "pred"], capsys)
    assert code == 0
    image = np.array(Image.open(synthetic_data / "val/images/shape000.png"))
    mask = np.array(Image.open(tmp_path / "pred/shape000_mask.png"))
    color = np.array(Image.open(tmp_path / "pred/shape000_color.png"))
    overlay = np.array(Image.open(tmp_path / "pred/shape000_overlay.png"))
    assert mask.shape == image.shape[:2] and color.shape == image.shape == overlay.shape
    assert set(np.unique(mask)) <= {0, 1, 2, 3}

    code, out, _ = run_cli(["evaluate", run, "--images", synthetic_data / "val/images",
                            "--masks", synthetic_data / "val/masks", "--json", tmp_path / "eval.json"], capsys)
    assert code == 0 and "mean IoU" in out
    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["per_class"]) == {"background", "circle", "rectangle", "triangle"}
    assert result["pixels"] == 3 * 48 * 48


@pytest.mark.slow
def test_train_predict_evaluate_on_real_isbi(isbi, tmp_path, capsys):
    train = link_pairs(isbi / "train", tmp_path / "train", ["slice00.png", "slice01.png"])
    val = link_pairs(isbi / "train", tmp_path / "val", ["slice20.png"])
    run = tmp_path / "run"
    code, out, _ = run_cli(["train", "--images", train / "images", "--masks", train / "masks",
                            "--val-images", val / "images", "--val-masks", val / "masks", *TINY, "--out", run], capsys)
    assert code == 0
    classes = json.loads((run / "classes.json").read_text())
    assert [c["id"] for c in classes["classes"]] == [0, 255]  # found from the 0/255 masks
    code, _, _ = run_cli(["predict", run, isbi / "test/images/slice00.png", "--out", tmp_path / "pred"], capsys)
    assert code == 0
    mask = np.array(Image.open(tmp_path / "pred/slice00_mask.png"))
    assert mask.shape == (512, 512) and set(np.unique(mask)) <= {0, 255}
    code, out, _ = run_cli(["evaluate", run, "--images", val / "images", "--masks", val / "masks"], capsys)
    assert code == 0 and "class_0" in out and "262144 scored pixels" in out


@pytest.mark.slow
def test_camvid_trains_and_evaluates_with_void_ignored(camvid, tmp_path, capsys):
    names = sorted(p.name for p in (camvid / "train/images").iterdir())[:3]
    train = link_pairs(camvid / "train", tmp_path / "train", names)
    val_name = sorted(p.name for p in (camvid / "val/images").iterdir())[:1]
    val = link_pairs(camvid / "val", tmp_path / "val", val_name)
    run = tmp_path / "run"
    code, _, _ = run_cli(["train", "--images", train / "images", "--masks", train / "masks",
                          "--val-images", val / "images", "--val-masks", val / "masks",
                          "--classes", camvid / "classes.json", *TINY, "--out", run], capsys)
    assert code == 0
    result = json.loads((run / "metrics.json").read_text())
    assert len(result["per_class"]) == 11 and "void" not in result["per_class"]
    void = int((np.array(Image.open(val / "masks" / val_name[0])) == 11).sum())
    assert result["pixels"] == 360 * 480 - void


def test_saved_model_reloads_with_plain_keras(tiny_run):
    code = (
        "import keras, numpy as np\n"
        f"m = keras.saving.load_model({str(tiny_run / 'model.keras')!r})\n"
        "print(m.name, tuple(m(np.zeros((1, 32, 32, 3), 'float32')).shape))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/")
    assert out.returncode == 0, out.stderr
    assert "unet" in out.stdout and "(1, 32, 32, 4)" in out.stdout


def test_python_api_predicts_any_size(tiny_run):
    import segcoder

    seg = segcoder.load(tiny_run)
    image = np.random.default_rng(0).integers(0, 255, (37, 51, 3), dtype=np.uint8)
    labels = seg.predict(image)
    assert labels.shape == (37, 51) and set(np.unique(labels)) <= {0, 1, 2, 3}
    proba = seg.predict_proba(image)
    assert proba.shape == (37, 51, 4) and np.allclose(proba.sum(-1), 1, atol=1e-5)


def test_demo_and_module_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "segcoder", "demo", "--epochs", "1", "--out", tmp_path / "demo"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "mean IoU" in out.stdout and "overlay" in out.stdout
    assert (tmp_path / "demo/predictions/shape000_overlay.png").is_file()


# --- bad input: one line on stderr naming the file and the fix, exit code 2 -----------------------------------

def _small_pairs(root: Path, n=3, size=32, mask_values=(0, 1)) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size), dtype=np.uint8)).save(root / "images" / f"s{i}.png")
        mask = rng.choice(mask_values, (size, size)).astype(np.uint8)
        Image.fromarray(mask).save(root / "masks" / f"s{i}.png")
    return root


def test_missing_folder(tmp_path, capsys):
    code, _, err = run_cli(["train", "--images", tmp_path / "nope", "--masks", tmp_path / "nope2",
                            "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, tmp_path / "nope", "not found")


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    code, _, err = run_cli(["train", "--images", tmp_path / "images", "--masks", tmp_path / "masks",
                            "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, tmp_path / "images", "no images found")


def test_truncated_image(tmp_path, capsys):
    data = _small_pairs(tmp_path / "d")
    broken = data / "images" / "s1.png"
    broken.write_bytes(broken.read_bytes()[:60])
    code, _, err = run_cli(["train", "--images", data / "images", "--masks", data / "masks", *TINY,
                            "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, broken)
    assert not (tmp_path / "run").exists()


def test_image_and_mask_of_different_sizes(tmp_path, capsys):
    data = _small_pairs(tmp_path / "d")
    Image.fromarray(np.zeros((16, 32), np.uint8)).save(data / "masks" / "s2.png")
    code, _, err = run_cli(["train", "--images", data / "images", "--masks", data / "masks", *TINY,
                            "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, data / "masks" / "s2.png", "32x16", "32x32")


def test_mask_values_outside_the_class_list(tmp_path, capsys):
    data = _small_pairs(tmp_path / "d", mask_values=(0, 255))
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"classes": [{"id": i, "name": f"c{i}", "color": [i, i, i]} for i in range(3)]}))
    code, _, err = run_cli(["train", "--images", data / "images", "--masks", data / "masks", "--classes", classes,
                            *TINY, "--out", tmp_path / "run"], capsys)
    assert_user_error(code, err, data / "masks", "[255]", "not in")


def test_binary_0_255_masks_with_a_two_class_list_are_accepted(tmp_path, capsys):
    data = _small_pairs(tmp_path / "d", mask_values=(0, 255))
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"classes": [{"id": 0, "name": "bg", "color": [0, 0, 0]},
                                               {"id": 1, "name": "fg", "color": [255, 0, 0]}]}))
    code, _, err = run_cli(["train", "--images", data / "images", "--masks", data / "masks", "--classes", classes,
                            *TINY, "--out", tmp_path / "run"], capsys)
    assert code == 0, err


def test_existing_run_is_not_overwritten_without_flag(tiny_run, synthetic_data, tmp_path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()}
    code, _, err = run_cli(["train", "--images", synthetic_data / "train/images",
                            "--masks", synthetic_data / "train/masks", *TINY, "--out", tiny_run], capsys)
    assert_user_error(code, err, tiny_run, "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in tiny_run.iterdir()} == before


def test_overwrite_replaces_a_run_only_when_the_new_one_is_complete(synthetic_data, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--images", synthetic_data / "train/images", "--masks", synthetic_data / "train/masks",
            *TINY, "--out", run]
    assert run_cli(args, capsys)[0] == 0
    (run / "marker.txt").write_text("old run")
    # A failing new run (bad class list) must leave the old run as it was.
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run_cli([*args, "--overwrite", "--classes", bad], capsys)
    assert_user_error(code, err, bad)
    assert (run / "marker.txt").is_file() and (run / "model.keras").is_file()
    assert run_cli([*args, "--overwrite"], capsys)[0] == 0
    assert not (run / "marker.txt").exists() and (run / "model.keras").is_file()


def test_bad_option_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "many", "--out", "x"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "--epochs" in err


def test_predict_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    code, _, err = run_cli(["predict", tmp_path, tmp_path, "--out", tmp_path / "o"], capsys)
    assert_user_error(code, err, tmp_path / "model.keras", "not a finished segcoder run")


def test_jax_backend_trains_and_predicts(synthetic_data, tmp_path):
    """Model, loss and metric code is keras.ops only; run the whole job on JAX when it is installed."""
    pytest.importorskip("jax")
    code = (
        "import sys, numpy as np\n"
        "from tests.conftest import tiny_config\n"
        "from pathlib import Path\n"
        "import segcoder, keras\n"
        "assert keras.backend.backend() == 'jax'\n"
        f"r = segcoder.train(tiny_config(Path({str(synthetic_data)!r})), {str(tmp_path / 'run')!r}, verbose=0)\n"
        "print('labels', segcoder.load(r.run_dir).predict(np.zeros((40, 50, 3), np.uint8)).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "KERAS_BACKEND": "jax"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "labels (40, 50)" in out.stdout
