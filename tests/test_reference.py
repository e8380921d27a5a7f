"""The classic reference inside ser_jax: openSMILE eGeMAPS functionals + an SVM, on the same
folds and result files as every method (configs/egemaps_svm.py), on real EmoDB audio."""

import json

import numpy as np
import pytest

from configs import egemaps_svm
from ser_jax import method, predict, train
from ser_jax.errors import SerJaxError


def _config(emodb_root, cache_dir):
    config = egemaps_svm.get_config()
    config.data.root, config.cache_dir = str(emodb_root), str(cache_dir)
    config.data.classes = ("anger", "sadness")  # 189 utterances: a small, easy problem (chance: 50 % UA)
    config.train.max_folds = 2
    return config


@pytest.fixture(scope="module")
def reference(emodb_root, cache_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("egemaps_svm")
    return workdir, train.train_and_evaluate(_config(emodb_root, cache_dir), workdir, out=lambda _: None)


def test_the_reference_writes_the_same_results_as_a_method(reference):
    workdir, summary = reference
    assert [f["fold"] for f in summary["folds"]] == ["test=03 val=08", "test=08 val=09"]
    for fold in summary["folds"]:
        assert fold["svm_kernel"] == "linear" and fold["svm_c"] in egemaps_svm.get_config().train.svm_c
        assert fold["best_epoch"] == 0  # nothing trained
        assert fold["test"]["ua"] > 0.75  # anger against sadness from prosody: far above chance
    assert (workdir / "results.md").read_text().startswith("# identity → SVM on emodb (egemaps features)")
    emb = np.load(workdir / "fold_00" / "embeddings.npz")
    assert emb["test"].shape[1] == 88  # the SVM saw the 88 functionals themselves
    assert json.loads((workdir / "config.json").read_text())["features"]["kind"] == "egemaps"


def test_predict_uses_the_reference_svm(reference, emodb_root):
    workdir, _ = reference
    run = predict.load_run(workdir)
    anger, sad = emodb_root / "wav" / "03a01Wa.wav", emodb_root / "wav" / "03a02Ta.wav"
    out = predict.predict(run, [str(anger), str(sad)])
    assert [o["label"] for o in out] == ["anger", "sadness"]
    for o in out:
        assert abs(sum(o["probabilities"].values()) - 1.0) < 1e-6


@pytest.mark.parametrize("change, message", [
    ({"signals.softmax.weight": 1.0}, r"encoder=identity has nothing to train.*softmax\.weight=0"),
    ({"model.encoder": "parallel_cnn"}, r"features\.kind=egemaps .* use --config\.model\.encoder=identity"),
    ({"train.normalize": "utterance"}, r"normalize=utterance .* eGeMAPS functionals have one"),
])
def test_impossible_reference_settings_are_refused_in_one_line(emodb_root, cache_dir, change, message):
    config = _config(emodb_root, cache_dir)
    config.update_from_flattened_dict(change)
    with pytest.raises(SerJaxError, match=message):
        method.check(config)
