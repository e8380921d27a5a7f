"""Nothing silently wrong on resume and at the end of a run (issue 17): a workdir of other
settings is refused, skipped inputs are reported in train mode, a resumed fold's log matches
its restored state, divergence stops the run, and a figure never stops the results."""

import csv
import json
import shutil

import numpy as np
import pytest

from configs import test as test_config
from ser_jax import plots, rundir, train
from ser_jax.errors import SerJaxError


def _config(emodb_root, cache_dir, **train):
    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.train.update({"epochs": 1, "max_folds": 1, **train})
    return config


def _epochs(workdir, fold=0):
    return [json.loads(l)["epoch"] for l in (rundir.fold_dir(workdir, fold) / rundir.LOG).read_text().splitlines()]


@pytest.fixture(scope="module")
def finished(emodb_root, cache_dir, tmp_path_factory):
    """One finished fold of 2 epochs, with the checkpoint of its last epoch (tests copy it before changing it)."""
    workdir = tmp_path_factory.mktemp("finished")
    train.train_and_evaluate(_config(emodb_root, cache_dir, epochs=2, checkpoint_every_s=0.0), workdir,
                             out=lambda _: None)
    return workdir


@pytest.mark.parametrize("key, value, shown", [
    ("signals.center.weight", 0.0, "signals.center.weight 4.0 → 0.0"),      # another method
    ("optim.learning_rate", 0.5, "optim.learning_rate 1.0 → 0.5"),          # a rate change mid-run
    ("model.parallel_cnn.channels", 16, "model.parallel_cnn.channels 8 → 16"),  # another model shape
    ("train.epochs", 1, "train.epochs 2 → 1"),
])
def test_a_workdir_of_other_settings_is_refused_naming_the_key(finished, emodb_root, cache_dir, key, value, shown):
    changed = _config(emodb_root, cache_dir, epochs=2, max_folds=2)
    changed.update_from_flattened_dict({key: value})
    with pytest.raises(SerJaxError, match=rf"other settings \({shown}\)"):
        train.train_and_evaluate(changed, finished, out=lambda _: None)
    # nothing was mixed in: the first run's config and its one fold are all there is
    assert json.loads((finished / rundir.CONFIG).read_text())["train"]["epochs"] == 2
    assert not rundir.fold_dir(finished, 1).exists()


def test_machine_keys_may_differ_and_more_folds_is_the_same_run(finished, emodb_root, cache_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    same = _config(emodb_root, cache_dir, epochs=2, max_folds=2, checkpoint_every_s=1e9, eval_batch_size=16)
    summary = train.train_and_evaluate(same, copy, out=lambda _: None)
    assert len(summary["folds"]) == 2


def test_a_run_from_before_a_key_existed_resumes_only_with_the_keys_old_value(finished, emodb_root, cache_dir,
                                                                              tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    written = json.loads((copy / rundir.CONFIG).read_text())
    del written["train"]["group_by_length"]  # as a run written before length grouping existed
    (copy / rundir.CONFIG).write_text(json.dumps(written))
    grouped = _config(emodb_root, cache_dir, epochs=2, group_by_length=8)
    with pytest.raises(SerJaxError, match=r"other settings \(train\.group_by_length 0 → 8\)"):
        train.train_and_evaluate(grouped, copy, out=lambda _: None)
    summary = train.train_and_evaluate(_config(emodb_root, cache_dir, epochs=2), copy, out=lambda _: None)
    assert len(summary["folds"]) == 1  # the old value: the same run, reused


def test_train_reports_and_writes_what_the_corpus_skipped(emodb_root, cache_dir, tmp_path):
    wavs = sorted((emodb_root / "wav").glob("*.wav"))
    good = [w for w in wavs if w.stem[5] in "WFNT" and w.stem[:2] in ("03", "08", "09", "10")]
    csv_path = tmp_path / "corpus.csv"
    with csv_path.open("w", newline="") as f:
        rows = csv.writer(f)
        rows.writerow(["path", "label", "speaker"])
        names = {"W": "anger", "F": "happiness", "N": "neutral", "T": "sadness"}
        rows.writerows((str(w), names[w.stem[5]], w.stem[:2]) for w in good)
        rows.writerow([str(tmp_path / "gone.wav"), "anger", "03"])
        rows.writerow([str(good[0]), "", "03"])
    config = _config(emodb_root, cache_dir)
    config.data.corpus, config.data.manifest, config.data.root = "manifest", str(csv_path), ""
    lines = []
    train.train_and_evaluate(config, tmp_path / "run", out=lines.append)
    text = "\n".join(lines)
    assert "skipped: 2" in text and "missing_audio: 1" in text and "unparsable_row: 1" in text
    skipped = json.loads((tmp_path / "run" / rundir.SKIPPED).read_text())
    assert sorted(s["reason"] for s in skipped) == ["missing_audio", "unparsable_row"]


def test_a_resumed_fold_logs_each_epoch_once(emodb_root, cache_dir, tmp_path):
    # no checkpoint within the 2 epochs (every 1e9 s): as a run killed after its second epoch
    # but before its first checkpoint, which restarts the fold from epoch 0
    config = _config(emodb_root, cache_dir, epochs=2, checkpoint_every_s=1e9)
    train.train_and_evaluate(config, tmp_path, out=lambda _: None)
    assert _epochs(tmp_path) == [1, 2]
    (rundir.fold_dir(tmp_path, 0) / rundir.RESULT).unlink()  # the fold is unfinished again
    train.train_and_evaluate(config, tmp_path, out=lambda _: None)
    assert _epochs(tmp_path) == [1, 2]  # not [1, 2, 1, 2]


def test_divergence_stops_the_run_naming_the_term(emodb_root, cache_dir, tmp_path):
    config = _config(emodb_root, cache_dir, epochs=3)
    config.optim.learning_rate = 1e9
    with pytest.raises(train.NonFiniteLoss, match=r"loss/\w+ (reached|became) .* at step \d+"):
        train.train_and_evaluate(config, tmp_path, out=lambda _: None)


def test_a_figure_that_fails_is_named_and_the_results_are_written(finished, tmp_path):
    tmp_path = tmp_path / "run"
    shutil.copytree(finished, tmp_path)
    summary = rundir.read_results(tmp_path)
    emb = rundir.read_embeddings(rundir.fold_dir(tmp_path, 0))
    emb["test"][0, 0] = np.nan  # what a diverged model writes
    np.savez_compressed(rundir.fold_dir(tmp_path, 0) / rundir.EMBEDDINGS, **emb)
    figures = plots.run_figures(tmp_path, summary)
    assert figures["TSNE of the first fold's embeddings"] == "not drawn: the embeddings hold non-finite values"
    summary["pooled"]["confusion"] = "not a matrix"
    figures = plots.run_figures(tmp_path, summary)
    assert figures["Pooled test confusion, row-normalised"].startswith("not drawn:")


@pytest.mark.parametrize("key, value", [("batch_size", 0), ("eval_batch_size", -8), ("epochs", 0)])
def test_impossible_training_numbers_are_refused_before_any_work(emodb_root, cache_dir, tmp_path, key, value):
    with pytest.raises(SerJaxError, match=rf"--config.train.{key}={value}: must be a whole number >= 1"):
        train.train_and_evaluate(_config(emodb_root, cache_dir, **{key: value}), tmp_path, out=lambda _: None)


@pytest.mark.parametrize("damage", ["flip", "empty"])
def test_a_damaged_checkpoint_is_refused_naming_the_folder(finished, emodb_root, cache_dir, tmp_path, damage):
    config = _config(emodb_root, cache_dir, epochs=2, checkpoint_every_s=0.0)
    tmp_path = tmp_path / "run"
    shutil.copytree(finished, tmp_path)
    fold = rundir.fold_dir(tmp_path, 0)
    (fold / rundir.RESULT).unlink()  # unfinished again: the next run restores the checkpoint
    files = sorted((p for p in (fold / rundir.CHECKPOINTS).rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = bytearray(files[-1].read_bytes())
    if damage == "flip":
        for i in range(len(data) // 2, len(data) // 2 + 64):
            data[i] ^= 0xFF
        files[-1].write_bytes(bytes(data))
    else:
        for p in files:
            p.write_bytes(b"")
    with pytest.raises(SerJaxError, match=r"checkpoint .*checkpoints/2 (is damaged|cannot be restored).*delete"):
        train.train_and_evaluate(config, tmp_path, out=lambda _: None)
