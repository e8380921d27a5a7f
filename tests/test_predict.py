"""Inference with a trained run on real EmoDB files, odd lengths, rates and a corrupt file."""

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from audio_files import tone, write_wav
from configs import test as test_config
from ser_jax import predict, train
from ser_jax.errors import SerJaxError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(emodb_root, cache_dir, tmp_path_factory):
    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.train.update(epochs=1, max_folds=1)
    workdir = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(config, workdir, out=lambda _: None)
    return workdir


@pytest.fixture(scope="module")
def audio_paths(emodb_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    real = sorted((emodb_root / "wav").glob("*.wav"))[:2]
    short = write_wav(folder / "short.wav", tone(0.2, 44100), 44100)  # 0.2 s at 44.1 kHz
    long = write_wav(folder / "long.wav", tone(30.0, 8000, channels=2), 8000)  # 30 s stereo at 8 kHz
    corrupt = folder / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return [str(p) for p in (*real, short, corrupt, long)]


def test_predict_gives_probabilities_for_every_readable_file(trained, audio_paths):
    run = predict.load_run(trained)
    entries = predict.predict(run, audio_paths)
    assert [e["path"] for e in entries] == audio_paths
    assert "error" in entries[3] and "unreadable" in entries[3]["error"]
    for e in entries[:3] + entries[4:]:
        probs = e["probabilities"]
        assert list(probs) == ["anger", "happiness", "neutral", "sadness"]
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert e["label"] == max(probs, key=probs.get)


def test_predict_and_embed_through_run_py(trained, audio_paths, tmp_path):
    out = tmp_path / "pred.json"
    args = [sys.executable, str(ROOT / "run.py"), "--config", "configs/test.py", f"--workdir={trained}",
            f"--audio={','.join(audio_paths)}"]
    done = subprocess.run(args + ["--mode=predict", f"--output={out}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    entries = json.loads(out.read_text())
    assert len(entries) == 5 and sum("error" in e for e in entries) == 1
    assert "corrupt.wav: error: unreadable" in done.stdout
    npz = tmp_path / "emb.npz"
    done = subprocess.run(args + ["--mode=embed", f"--output={npz}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    emb = np.load(npz)
    assert emb["embeddings"].shape == (4, 1, 64) and np.isfinite(emb["embeddings"]).all()
    assert list(emb["failed_paths"]) == [audio_paths[3]]


def test_load_run_names_what_is_missing(tmp_path, trained):
    with pytest.raises(SerJaxError, match="config.json"):
        predict.load_run(tmp_path)
    with pytest.raises(SerJaxError, match="fold_05"):
        predict.load_run(trained, folds=[5])


def _copy(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def test_damaged_model_bytes_are_found_not_used(trained, tmp_path):
    run = _copy(trained, tmp_path)
    # flip bytes in the largest array file of the saved model (Orbax/TensorStore chunks)
    files = sorted((p for p in (run / "fold_00" / "model").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(files[-1].read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    files[-1].write_bytes(bytes(data))
    with pytest.raises(SerJaxError, match=r"fold_00/model (is damaged|cannot be read).*delete .*fold_00"):
        predict.load_run(run)


def test_empty_or_truncated_model_files_are_one_line_errors(trained, tmp_path):
    run = _copy(trained, tmp_path)
    for p in (run / "fold_00" / "model").rglob("*"):
        if p.is_file():
            p.write_bytes(b"")
    with pytest.raises(SerJaxError, match=r"fold_00/model (cannot be read|is damaged)"):
        predict.load_run(run)


def test_non_finite_outputs_are_a_per_file_error_and_the_json_stays_valid(trained, audio_paths, tmp_path):
    run = predict.load_run(trained)
    fold = run.folds[0]
    nan = jax.tree.map(lambda a: np.full_like(np.asarray(a), np.nan), fold.variables["params"])
    broken = {"params": nan, "batch_stats": fold.variables["batch_stats"]}
    run = dataclasses.replace(run, folds=(dataclasses.replace(fold, variables=broken),))
    entries = predict.predict(run, audio_paths[:2])
    assert all("non-finite outputs" in e["error"] for e in entries)
    json.loads(json.dumps(entries, allow_nan=False))


def test_cli_refuses_bad_folds_and_a_missing_output_folder_before_predicting(trained, audio_paths, tmp_path):
    args = [sys.executable, str(ROOT / "run.py"), "--config", "configs/test.py", f"--workdir={trained}",
            f"--audio={audio_paths[0]}", "--mode=predict"]
    done = subprocess.run(args + ["--folds=x"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: --folds=x")
    done = subprocess.run(args + [f"--output={tmp_path / 'nowhere' / 'p.json'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2 and "its folder does not exist" in done.stderr and "fold model" not in done.stdout


def test_a_workdir_that_is_a_file_is_refused(emodb_root, cache_dir, tmp_path):
    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    (tmp_path / "afile").write_text("x")
    for workdir in (tmp_path / "afile", tmp_path / "afile" / "below"):
        with pytest.raises(SerJaxError, match="a file is in the way"):
            train.train_and_evaluate(config, workdir, out=lambda _: None)
