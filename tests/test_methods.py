"""Encoders × training signals on real EmoDB audio: a new encoder and a new signal are one
definition plus a registry line each, and signals run on the other papers' encoders."""

import dataclasses
import json
from pathlib import Path

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from audio_files import tone, write_wav
from configs import test as test_config
from ser_jax import encoders, losses, predict, signals, train
from ser_jax.encoders.base import Encoded, Encoder
from ser_jax.signals.base import Signal

CLASSES = ("anger", "happiness", "neutral", "sadness")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeanPool(Encoder):
    """Mean over the true frames → Dense → tanh: the smallest encoder that reads lengths."""

    takes_lengths = True
    head_name = "head"

    width: int = 12

    @classmethod
    def from_config(cls, c, **common):
        return cls(width=c.width, **common)

    @property
    def embed_dim(self):
        return self.width

    def __call__(self, x, lengths, *, train):
        valid = (jnp.arange(x.shape[1])[None, :] < lengths[:, None]).astype(x.dtype)
        mean = jnp.sum(x * valid[:, :, None], axis=1) / jnp.maximum(jnp.sum(valid, axis=1), 1.0)[:, None]
        e = nn.tanh(nn.Dense(self.width, name="pool_fc")(mean))
        return Encoded(embedding=e, head_input=e)


def _mean_pool_config():
    return ml_collections.ConfigDict({"width": 12})


@dataclasses.dataclass(frozen=True, kw_only=True)
class SpreadPenalty(Signal):
    """Mean squared norm of the embeddings, with a step counter as its state."""

    name = "spread"

    @classmethod
    def from_config(cls, c):
        return cls(weight=c.weight)

    def init_state(self, *, num_classes, embed_dim, train_labels):
        return {"steps": jnp.zeros((), jnp.int32)}

    def loss(self, out, batch, state, *, step):
        value = losses.masked_mean(jnp.sum(out["embedding"] ** 2, axis=-1), batch["mask"])
        return self.weight * value, {"loss/spread": value}

    def update_state(self, state, out, batch):
        return {"steps": state["steps"] + 1}


def _spread_config():
    return ml_collections.ConfigDict({"weight": 0.0})


def _config(emodb_root, cache_dir):
    config = test_config.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.train.update(epochs=1, max_folds=1, batch_size=16)
    config.signals.center.weight = 0.0
    config.signals.reconstruction.weight = 0.0
    return config


def test_a_new_encoder_and_signal_are_one_definition_and_one_registry_line(emodb_root, cache_dir, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setitem(encoders.ENCODERS, "mean_pool", (MeanPool, _mean_pool_config))
    monkeypatch.setitem(signals.SIGNALS, "spread", (SpreadPenalty, _spread_config))
    config = _config(emodb_root, cache_dir)  # base.get_config() now holds their keys
    config.model.encoder = "mean_pool"
    config.model.mean_pool.width = 6
    config.signals.spread.weight = 0.1
    summary = train.train_and_evaluate(config, tmp_path, out=lambda _: None)
    assert summary["pooled"]["n"] == 39 and 0.0 <= summary["pooled"]["ua"] <= 1.0
    first = (tmp_path / "fold_00" / "log.jsonl").read_text().splitlines()[0]
    assert '"loss/spread"' in first and '"loss/ce"' in first
    emb = np.load(tmp_path / "fold_00" / "embeddings.npz")
    assert emb["test"].shape == (39, 6)
    run = predict.load_run(tmp_path)
    assert run.folds[0].variables["params"].keys() == {"pool_fc", "head"}
    entry, = predict.predict(run, [str(write_wav(tmp_path / "a.wav", tone(1.5, 16000)))])
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_the_pairwise_task_on_the_parallel_cnn_and_center_loss_on_the_satt_encoder(emodb_root, cache_dir,
                                                                                     tmp_path):
    config = _config(emodb_root, cache_dir)
    config.signals.softmax.weight = 0.0
    config.signals.pairwise.weight = 1.0
    config.signals.pairwise.pairs_per_epoch = 64
    summary = train.train_and_evaluate(config, tmp_path / "pairwise_cnn", out=lambda _: None)
    fold = summary["folds"][0]
    assert fold["svm_c"] in tuple(config.train.svm_c) and fold["test"]["n"] == 39  # an SVM on the vectors
    log = (tmp_path / "pairwise_cnn" / "fold_00" / "log.jsonl").read_text()
    record, = [json.loads(line) for line in log.splitlines()]
    assert "loss/cos" in record
    # the epoch's SVM gives every validation figure (WA was logged as NaN before)
    assert 0.0 <= record["val/wa"] <= 1.0 and 0.0 <= record["val/ua"] <= 1.0

    config = _config(emodb_root, cache_dir)
    config.model.encoder = "satt"
    config.model.satt.update(conv_channels=(4, 4, 4, 4, 4), embed_dim=16)
    config.signals.center.weight = 0.5
    summary = train.train_and_evaluate(config, tmp_path / "center_satt", out=lambda _: None)
    assert summary["pooled"]["n"] == 39
    first = (tmp_path / "center_satt" / "fold_00" / "log.jsonl").read_text().splitlines()[0]
    assert '"loss/center"' in first
    from ser_jax import checkpointing
    stored = checkpointing.load_model(tmp_path / "center_satt" / "fold_00" / "model")
    centers = np.asarray(stored["signals"]["center"]["centers"])
    assert centers.shape == (4, 16) and np.abs(centers).sum() > 0  # the centers moved from zero


def test_inputs_cut_to_the_75th_percentile_of_the_training_lengths(emodb_root, cache_dir, tmp_path):
    """Variable-length log-mel cut to one length chosen from the corpus (Tripathi et al.'s
    rule), at random offsets in training; predict cuts new audio the same way."""
    config = _config(emodb_root, cache_dir)
    config.features.crop_seconds = 0.0
    config.train.crop_percentile = 75.0
    summary = train.train_and_evaluate(config, tmp_path, out=lambda _: None)
    assert summary["pooled"]["n"] == 39
    from ser_jax import rundir

    crop = rundir.read_json(tmp_path / "fold_00" / "model.json")["crop_frames"]
    assert 90 <= crop <= 120  # 75 % of EmoDB's 4-class utterances last up to ~3.3 s: ~100 frames of 512 samples
    run = predict.load_run(tmp_path)
    clips = [write_wav(tmp_path / "short.wav", tone(0.5, 16000)), write_wav(tmp_path / "long.wav", tone(9.0, 16000))]
    for entry in predict.predict(run, [str(c) for c in clips]):
        assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-5), entry
    # evaluation windows: a long recording's probabilities are the mean over its windows
    long_file = max(Path(emodb_root, "wav").glob("*.wav"), key=lambda p: p.stat().st_size)
    start_only = predict.predict(run, [str(long_file)])[0]["probabilities"]
    windowed = dataclasses.replace(run, shape=dataclasses.replace(run.shape, windows=3))
    spread = predict.predict(windowed, [str(long_file)])[0]["probabilities"]
    assert sum(spread.values()) == pytest.approx(1.0, abs=1e-5)
    assert max(abs(spread[c] - start_only[c]) for c in spread) > 1e-4
    config.features.crop_seconds = 1.0
    from ser_jax import method
    from ser_jax.errors import SerJaxError

    with pytest.raises(SerJaxError, match=r"--config\.train\.crop_percentile.*--config\.features\.crop_seconds"):
        method.check(config)


def test_per_speaker_normalisation_is_declared_and_predict_refuses_it(emodb_root, cache_dir, tmp_path):
    config = _config(emodb_root, cache_dir)
    config.train.normalize = "speaker"
    summary = train.train_and_evaluate(config, tmp_path, out=lambda _: None)
    assert summary["pooled"]["n"] == 39 and summary["normalization"].startswith("speaker (transductive")
    title = (tmp_path / "results.md").read_text().splitlines()[0]
    assert "per-speaker normalisation" in title and "test speaker's unlabelled audio" in title
    from ser_jax.errors import SerJaxError

    with pytest.raises(SerJaxError, match=r"per-speaker normalisation.*--config\.train\.normalize"):
        predict.load_run(tmp_path)
