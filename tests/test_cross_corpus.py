"""Cross-corpus evaluation end to end on real EmoDB audio: train on the female speakers (a
manifest), evaluate on the male speakers given as a second corpus with other label spellings."""

import csv
import json

import numpy as np
import pytest

from configs import test as test_config
from ser_jax import cross_corpus, metrics, predict, train
from ser_jax.corpora import labels

# the male corpus's spellings of EmoDB's classes
MALE_SPELLING = {"anger": "Angry", "happiness": "hap", "neutral": "Neutral", "sadness": "sad",
                 "boredom": "Boredom", "fear": "Fearful", "disgust": "grossed_out"}


def _manifest(path, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker"])
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def run(emodb, cache_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cross")
    names = np.asarray(emodb.classes)[emodb.labels]
    wav = [emodb.records[int(r)]["path"] for r in emodb.record_index]
    wav = [w.decode() if isinstance(w, bytes) else str(w) for w in wav]
    female = np.isin(emodb.speakers, list(labels.EMODB_FEMALE_SPEAKERS))
    female_csv = _manifest(tmp / "female.csv", [(wav[i], names[i], emodb.speakers[i]) for i in np.flatnonzero(female)])
    male_csv = _manifest(tmp / "male.csv", [(wav[i], MALE_SPELLING[names[i]], emodb.speakers[i])
                                            for i in np.flatnonzero(~female)])
    config = test_config.get_config()
    config.data.corpus, config.data.manifest, config.data.root = "manifest", str(female_csv), ""
    config.cache_dir = str(cache_dir)
    config.train.update(epochs=1, max_folds=2)
    config.eval.corpora = (f"corpus=manifest;manifest={male_csv}",)
    workdir = tmp / "run"
    summary = train.train_and_evaluate(config, workdir, out=lambda _: None)
    male = {c: int(np.sum(names[~female] == c)) for c in emodb.classes}
    return workdir, summary, male, [wav[i] for i in np.flatnonzero(~female)], names[~female]


def test_every_mapped_male_utterance_is_scored_by_each_fold(run):
    workdir, summary, male, _, _ = run
    (name, target), = summary["cross_corpus"].items()
    assert "male.csv" in name
    # (a manifest's labels are lower-cased: `Angry` is read as `angry`)
    assert target["mapping"] == {"angry": "anger", "hap": "happiness", "neutral": "neutral", "sad": "sadness"}
    # boredom, fear and disgust have no training class: listed with their counts, left out
    assert target["left_out"] == {"boredom": male["boredom"], "fearful": male["fear"], "grossed_out": male["disgust"]}
    n = sum(male[c] for c in ("anger", "happiness", "neutral", "sadness"))
    assert target["utterances"] == n and [f["n"] for f in target["folds"]] == [n, n]
    for fold in target["folds"]:
        confusion = np.asarray(fold["confusion"])
        assert confusion.sum(axis=1).tolist() == [male["anger"], male["happiness"], male["neutral"], male["sadness"]]
        assert fold["ua"] == pytest.approx(metrics.summarize(confusion, range(4))["ua"])
    assert target["pooled"]["n"] == 2 * n
    assert np.mean([f["ua"] for f in target["folds"]]) == pytest.approx(target["mean"]["ua"])
    text = (workdir / "results.md").read_text()
    assert "## Cross-corpus" in text and "grossed_out (" in text and "hap → happiness" in text
    assert json.loads((workdir / "results.json").read_text())["cross_corpus"][name]["mean"]["macro_f1"] >= 0


def test_cross_corpus_predictions_are_what_predict_gives_for_the_same_files(run):
    workdir, summary, _, paths, truth = run
    (target,) = summary["cross_corpus"].values()
    keep = np.isin(truth, ["anger", "happiness", "neutral", "sadness"])
    classes = ("anger", "happiness", "neutral", "sadness")
    entries = predict.predict(predict.load_run(workdir, folds=[0]), [p for p, k in zip(paths, keep) if k])
    pred = [classes.index(e["label"]) for e in entries]
    true = [classes.index(t) for t in truth[keep]]
    np.testing.assert_array_equal(metrics.confusion_matrix(true, pred, 4), target["folds"][0]["confusion"])


def test_resuming_with_a_new_target_is_refused(run, cache_dir, tmp_path):
    workdir, _, _, _, _ = run
    config = test_config.get_config()
    config.data.corpus = "manifest"
    config.data.manifest = json.loads((workdir / "config.json").read_text())["data"]["manifest"]
    config.data.root, config.cache_dir = "", str(cache_dir)
    config.train.update(epochs=1, max_folds=2)
    config.eval.corpora = (f"corpus=manifest;manifest={config.data.manifest}",)  # another target
    with pytest.raises(Exception, match="other settings .eval.corpora"):
        train.train_and_evaluate(config, workdir, out=lambda _: None)


def test_label_mapping_rules():
    train_classes = ("anger", "happiness", "neutral", "sadness")
    mapping, unmapped = cross_corpus.map_classes(("ANG", "Joy", "exc", "neu", "Sad"), train_classes)
    assert mapping == {0: 0, 1: 1, 3: 2, 4: 3} and unmapped == ["exc"]
    # the user's map first (IEMOCAP's excited as happiness)
    mapping, unmapped = cross_corpus.map_classes(("exc",), train_classes, cross_corpus.parse_label_map("exc=happiness"))
    assert mapping == {0: 1} and unmapped == []
    with pytest.raises(cross_corpus.CrossCorpusError, match="not a training class"):
        cross_corpus.map_classes(("exc",), train_classes, cross_corpus.parse_label_map("exc=joy"))
    with pytest.raises(cross_corpus.CrossCorpusError, match="TARGET=TRAINING_CLASS"):
        cross_corpus.parse_label_map("exc")


def test_target_spec_errors_name_the_key(emodb_config, emodb_root):
    data = emodb_config.data.copy_and_resolve_references()
    data.classes = ("anger", "sadness")
    target = cross_corpus.parse_target("corpus=emobox;emobox=/x/EmoBox/data/emovo", data)
    # nothing of the training corpus's paths or class subset is inherited
    assert target.corpus == "emobox" and target.emobox == "/x/EmoBox/data/emovo" and target.classes == ()
    assert target.root == ""
    # an EmoDB target without a root is found under SER_JAX_DATA, as the training corpus is
    target = cross_corpus.parse_target("corpus=emodb", data, environ={"SER_JAX_DATA": str(emodb_root.parent)})
    assert target.root == str(emodb_root)
    with pytest.raises(cross_corpus.CrossCorpusError, match="KEY=VALUE"):
        cross_corpus.parse_target("corpus=manifest;csv=male.csv", emodb_config.data)
