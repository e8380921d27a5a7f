"""run.py end to end, as a user runs it (a real subprocess on the real EmoDB copy)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, env_extra, timeout=300):
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def described(emodb_root, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workdir")
    env = {"SER_JAX_DATA": str(emodb_root.parent), "SER_JAX_CACHE": str(tmp_path_factory.mktemp("cache"))}
    result = _run(["--config", "configs/test.py", "--workdir", str(workdir), "--mode=describe"], env)
    return result, workdir, env


def test_describe_prints_corpus_folds_and_cache(described):
    result, workdir, _ = described
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "corpus emodb: 339 utterances, 10 speakers" in out
    assert "folds: 10 (speaker independent)" in out and "test=03 val=08" in out
    assert "excluded_label: 196" in out
    assert "computed now" in out and "feature cache:" in out
    assert "method parallel_cnn + softmax(1) + center(4) + reconstruction(1):" in out and summary_params(workdir) > 0
    summary = json.loads((workdir / "describe.json").read_text())
    assert summary["per_class"] == {"anger": 127, "happiness": 71, "neutral": 79, "sadness": 62}
    assert len(summary["folds"]) == 10 and summary["features"]["bins"] == 32
    assert sum(f["test"] for f in summary["folds"]) == 339
    assert len(json.loads((workdir / "skipped.json").read_text())) == 196


def test_second_describe_reuses_the_cache(described):
    _, workdir, env = described
    again = _run(["--config", "configs/test.py", "--workdir", str(workdir), "--mode=describe"], env)
    assert again.returncode == 0, again.stderr
    assert "reused from cache" in again.stdout
    assert json.loads((workdir / "describe.json").read_text())["features"]["computed_now"] is False


def test_overrides_apply_and_misspelt_keys_fail(described):
    _, _, env = described
    ok = _run(["--config", "configs/test.py", "--mode=describe", "--config.protocol.val_speakers=2",
               "--config.features.n_mels=40"], env)
    assert ok.returncode == 0, ok.stderr
    assert "test=03 val=08,09" in ok.stdout and "× 40 bins" in ok.stdout
    bad = _run(["--config", "configs/test.py", "--mode=describe", "--config.features.n_mel=40"], env)
    assert bad.returncode != 0 and "n_mel" in bad.stderr


def test_user_errors_are_one_message_without_traceback(described, tmp_path):
    _, _, env = described
    result = _run(["--config", "configs/test.py", "--mode=describe",
                   f"--config.data.root={tmp_path / 'missing'}"], env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: EmoDB folder") and "--config.data.root" in result.stderr
    assert "Traceback" not in result.stderr


def summary_params(workdir):
    return json.loads((workdir / "describe.json").read_text())["model"]["parameters"]


def test_describe_prints_the_model_size_of_the_paper_and_the_strong_recipe(emodb_root, tmp_path):
    env = {"SER_JAX_DATA": str(emodb_root.parent), "SER_JAX_CACHE": str(tmp_path)}
    result = _run(["--config", "configs/sc.py:paper", "--mode=describe"], env)
    assert result.returncode == 0, result.stderr
    # 7 EmoDB classes: 260,452 − 260 + 455 (the paper's 0.26 M with 4 classes); inputs cut at the
    # 75th percentile of the utterance lengths: 104 frames (3.3 s)
    assert "method parallel_cnn + softmax(1) + center(4): 260,647 parameters for 104 × 128 inputs and 7 classes" \
        in result.stdout
    result = _run(["--config", "configs/sc.py", "--mode=describe"], env)  # the default: the strong recipe
    assert result.returncode == 0, result.stderr
    # 32 kernels per path on 64 mel bands (the strong recipe's smaller input and network)
    assert "method parallel_cnn + softmax(1) + center(4): 42,247 parameters for 104 × 64 inputs and 7 classes" \
        in result.stdout
    result = _run(["--config", "configs/sc.py:papr", "--mode=describe"], env)
    assert result.returncode != 0 and "choose one of ('strong', 'paper')" in result.stderr


def test_an_impossible_method_is_refused_in_one_line_before_any_work(emodb_root, tmp_path):
    env = {"SER_JAX_DATA": str(emodb_root.parent), "SER_JAX_CACHE": str(tmp_path / "cache")}
    result = _run(["--config", "configs/dai.py", "--workdir", str(tmp_path / "run"),
                   "--config.signals.reconstruction.weight=1.0"], env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line, = result.stderr.strip().splitlines()
    assert line.startswith("error: --config.signals.reconstruction.weight") and "--config.model.encoder=conv_gru" in line
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()  # nothing was built


def test_status_reads_a_workdir_without_training(described):
    _, workdir, env = described  # the describe run's workdir holds no training run
    result = _run(["--config", "configs/test.py", "--workdir", str(workdir), "--mode=status"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"{workdir}: not started"
    assert not (workdir / "config.json").exists()  # nothing written


def test_a_relative_data_folder_gives_an_absolute_data_root(emodb_root, monkeypatch):
    """SER_JAX_DATA=../shared/data (the README's form) is resolved once: the run's config and every
    path derived from it hold from any folder (a manifest elsewhere, predict run from another one)."""
    import importlib

    from configs import base

    run = importlib.import_module("run")
    monkeypatch.chdir(emodb_root.parent.parent)
    config = base.get_config()
    run.resolve_paths(config, {"SER_JAX_DATA": emodb_root.parent.name})
    assert Path(config.data.root).is_absolute() and Path(config.data.root) == emodb_root
