"""End to end on real EmoDB audio with configs/test.py: training, results, kill and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio_files import tone, write_wav
from configs import test as test_config
from ser_jax import predict, train
from ser_jax.errors import SerJaxError

ROOT = Path(__file__).resolve().parents[1]


def _config(emodb_root, cache_dir, **train_overrides):
    config = test_config.get_config()
    config.data.root = str(emodb_root)
    config.cache_dir = str(cache_dir)
    for key, value in train_overrides.items():
        config.train[key] = value
    return config


def _log(workdir, fold=0):
    return [json.loads(l) for l in (workdir / f"fold_{fold:02d}" / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(emodb_root, cache_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    # checkpoints only every 1e9 s of training: none in this run (the kill test saves every epoch)
    summary = train.train_and_evaluate(_config(emodb_root, cache_dir, epochs=4, max_folds=1,
                                               checkpoint_every_s=1e9), workdir, out=lambda _: None)
    return workdir, summary


def test_training_writes_results_and_the_loss_falls(uninterrupted):
    workdir, summary = uninterrupted
    log = _log(workdir)
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]
    assert log[-1]["loss/total"] < log[0]["loss/total"]
    assert {"loss/ce", "loss/center", "loss/recon", "val/ua", "lr"} <= set(log[0])
    written = json.loads((workdir / "results.json").read_text())
    assert written["mean"] == summary["mean"] and len(written["folds"]) == 1
    fold = written["folds"][0]
    assert fold["test"]["n"] == 39  # speaker 03's utterances in the 4 classes: none dropped
    assert np.asarray(fold["test"]["confusion"]).sum() == 39
    assert "| mean ± std over 1 folds |" in (workdir / "results.md").read_text()
    assert fold["seconds"] > 0 and f"| {fold['seconds']:.1f} |" in (workdir / "results.md").read_text()
    assert not [p for p in (workdir / "fold_00" / "checkpoints").iterdir() if p.name.isdigit()]
    assert json.loads((workdir / "config.json").read_text())["train"]["epochs"] == 4
    events = list((workdir / "fold_00" / "tensorboard").glob("events.out.tfevents.*"))
    assert events and b"loss/recon" in events[0].read_bytes() and b"val/ua" in events[0].read_bytes()
    embeddings = np.load(workdir / "fold_00" / "embeddings.npz")
    assert embeddings["test"].shape == (39, 64) and embeddings["test_labels"].shape == (39,)
    assert embeddings["train"].shape[0] + embeddings["val"].shape[0] + 39 == 339  # the 4 classes
    assert fold["test"]["recon_mse"] > 0 and "recon_mse" in written["mean"]
    assert "Test reconstruction MSE (inputs min-max scaled to [0, 1]):" in (workdir / "results.md").read_text()
    assert "val/recon_mse" in log[0]
    model_meta = json.loads((workdir / "fold_00" / "model.json").read_text())
    assert model_meta["classes"] == ["anger", "happiness", "neutral", "sadness"]
    results_md = (workdir / "results.md").read_text()
    for png in ("confusion", "curves", "embeddings_tsne", "embeddings_pca"):
        assert f"(plots/{png}.png)" in results_md and (workdir / "plots" / f"{png}.png").stat().st_size > 1000


def test_kill_and_resume_reproduces_the_uninterrupted_result(uninterrupted, emodb_root, cache_dir, tmp_path):
    reference, _ = uninterrupted
    workdir = tmp_path / "run"
    args = [sys.executable, str(ROOT / "run.py"), "--config", "configs/test.py", f"--workdir={workdir}",
            "--config.train.epochs=4", "--config.train.max_folds=1", "--config.train.checkpoint_every_s=0",
            f"--config.data.root={emodb_root}", f"--config.cache_dir={cache_dir}"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    checkpoints = workdir / "fold_00" / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as a crash or a pre-empted job would
    proc.wait()
    assert not (workdir / "results.json").exists(), "the run finished before it could be killed"
    resumed = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = _log(workdir)
    assert log[0]["epoch"] >= 1 and log[-1]["epoch"] == 4
    expected = {r["epoch"]: r for r in _log(reference)}
    for record in log:  # every epoch logged by either process equals the uninterrupted one
        assert record == expected[record["epoch"]]
    got = json.loads((workdir / "results.json").read_text())["folds"][0]
    want = json.loads((reference / "results.json").read_text())["folds"][0]
    assert got.pop("seconds") > 0 and want.pop("seconds") > 0  # wall-clock: the one field that differs
    assert got == want


def test_dai_and_pdt_train_end_to_end(emodb_root, cache_dir, tmp_path):
    from configs import dai, pdt

    config = dai.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.data.classes = ("anger", "happiness", "neutral", "sadness")
    config.features.n_mels = 16
    config.model.conv_gru.conv_channels = (4, 8)
    config.model.conv_gru.gru_units = 16
    config.train.update(epochs=1, max_folds=1)
    dai_summary = train.train_and_evaluate(config, tmp_path / "dai", out=lambda _: None)
    assert dai_summary["pooled"]["n"] == 39 and 0.0 <= dai_summary["pooled"]["ua"] <= 1.0
    assert json.loads((tmp_path / "dai" / "fold_00" / "log.jsonl").read_text()
                                           .splitlines()[0])["loss/center"] > 0

    config = pdt.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.data.classes = ("anger", "happiness", "neutral", "sadness")
    config.model.satt.conv_channels = (4, 4, 4, 4, 4)
    config.signals.pairwise.pairs_per_epoch = 64
    config.train.update(epochs=1, max_folds=1)
    pdt_summary = train.train_and_evaluate(config, tmp_path / "pdt", out=lambda _: None)
    fold = pdt_summary["folds"][0]
    assert fold["svm_c"] in (0.1, 1.0, 10.0) and fold["test"]["n"] == 39
    # the strong recipe cuts full-length features per fold: the 75th percentile of the training
    # utterances' frames (EmoDB's 4 classes: ~2.8-3.5 s), not the paper's fixed 4 s
    crop = json.loads((tmp_path / "pdt" / "fold_00" / "model.json").read_text())["crop_frames"]
    assert 250 < crop < 400
    assert {"loss/cos", "loss/ce"} <= set(_log(tmp_path / "pdt")[0])

    # inference through both: variable-length ConvGRU and the pairwise encoder + SVM
    clips = [write_wav(tmp_path / "short.wav", tone(0.2, 22050), 22050),
             write_wav(tmp_path / "long.wav", tone(12.0, 16000))]
    for name in ("dai", "pdt"):
        entries = predict.predict(predict.load_run(tmp_path / name), [str(c) for c in clips])
        for e in entries:
            assert sum(e["probabilities"].values()) == pytest.approx(1.0, abs=1e-5), (name, e)


def test_non_finite_loss_stops_naming_step_and_term(emodb_root, cache_dir, tmp_path):
    config = _config(emodb_root, cache_dir, epochs=1, max_folds=1)
    config.optim.name, config.optim.learning_rate = "sgd", 1e30
    with pytest.raises(train.NonFiniteLoss, match=r"loss/\w+ became (nan|inf|-inf) at step \d+"):
        train.train_and_evaluate(config, tmp_path, out=lambda _: None)


def test_a_second_process_on_the_same_workdir_is_refused(emodb_root, cache_dir, tmp_path):
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with (tmp_path / ".lock").open("w") as held:  # as a first training process would hold it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(SerJaxError, match="another process is already training"):
            train.train_and_evaluate(_config(emodb_root, cache_dir, epochs=1, max_folds=1), tmp_path,
                                     out=lambda _: None)
    assert not (tmp_path / "fold_00").exists()
