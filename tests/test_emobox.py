"""EmoBox-format corpora and their official folds, on real EmoDB audio written into
EmoBox-shaped folders (tests/emobox_tree.py)."""

import collections
import json

import emobox_tree
import numpy as np
import pytest

from configs import base
from ser_jax import protocols
from ser_jax.corpora import emobox, load_corpus


def _config(folder, root, cache_dir):
    config = base.get_config()
    config.data.corpus = "emobox"
    config.data.emobox = str(folder)
    config.data.root = str(root)
    config.cache_dir = str(cache_dir)
    config.protocol.name = "emobox_folds"
    return config


@pytest.fixture(scope="module")
def full_tree(emodb_root, emodb, tmp_path_factory):
    stems = sorted(emodb.utt_ids.tolist())
    rng = np.random.default_rng(0)
    random_test = sorted(rng.choice(stems, size=100, replace=False).tolist())
    folds = [([s for s in stems if s[:2] in ("03", "08")], "fold_N"), (random_test, "foldN")]
    return emobox_tree.write_tree(tmp_path_factory.mktemp("emobox_full"), emodb_root / "wav", stems, folds=folds)


def test_emodb_through_emobox_metadata_is_the_emodb_corpus(full_tree, emodb, cache_dir):
    folder, root = full_tree
    config = _config(folder, root, cache_dir)
    corpus = load_corpus(config.data, config.cache_dir)
    assert corpus.skipped == () and len(corpus) == 535
    assert corpus.classes == ("Angry", "Boredom", "Disgust", "Fear", "Happy", "Neutral", "Sad")
    ours = collections.Counter(emobox_tree.TO_EMODB[c] for c in np.asarray(corpus.classes)[corpus.labels])
    theirs = collections.Counter(np.asarray(emodb.classes)[emodb.labels].tolist())
    assert ours == theirs
    assert collections.Counter(s[-2:] for s in corpus.speakers) == collections.Counter(emodb.speakers.tolist())
    # the same audio: utterance by utterance
    i = int(np.flatnonzero(corpus.utt_ids == "emodb-03a01Fa")[0])
    j = int(np.flatnonzero(emodb.utt_ids == "03a01Fa")[0])
    np.testing.assert_array_equal(corpus.waveform(i), emodb.waveform(j))
    # the map's key `Neutral` against the metadata's `neutral`: matched, and said so
    assert corpus.adjusted == {"label 'neutral' read as 'Neutral' (case or spacing)": 79}


def test_official_folds_are_exactly_the_fold_files(full_tree, cache_dir):
    folder, root = full_tree
    config = _config(folder, root, cache_dir)
    corpus = load_corpus(config.data, config.cache_dir)
    folds = protocols.make_folds(config.protocol, corpus)
    assert [f.name.split()[0] for f in folds] == ["fold_1", "fold_2"]
    for fold, official in zip(folds, corpus.official_folds):
        test_ids = set(corpus.utt_ids[fold.test].tolist())
        assert test_ids == set(official["test"])
        # validation comes out of the training part, never out of the test part
        train_and_val = set(corpus.utt_ids[np.concatenate([fold.train, fold.val])].tolist())
        assert train_and_val == set(official["train"])
        assert set(corpus.speakers[fold.val].tolist()).isdisjoint(corpus.speakers[fold.train].tolist())
    # fold 1 tests speakers 03 and 08 only: speaker independent; fold 2 is a random split
    assert folds[0].speaker_independent and sorted(set(corpus.speakers[folds[0].test])) == ["female_08", "male_03"]
    assert not folds[1].speaker_independent
    assert corpus.official_folds[1]["files"][1].endswith("emodb_test_fold2.jsonl")


def test_bad_lines_are_skipped_counted_and_listed(emodb_root, tmp_path, cache_dir):
    stems = ["03a01Fa", "03a01Nc", "03a01Wa", "08a01Fd", "08a01Ab", "08a02La", "09a01Fa", "09a01Wb",
             "10a01Wa", "10a01Nb", "11a01Wc", "11a01Nd"]
    folder, root = emobox_tree.write_tree(
        tmp_path, emodb_root / "wav", stems, folds=[(stems[:3], "fold_N")],
        metadata_extra=[json.dumps(emobox_tree.entry("12a01Wc", emo="surprise")),  # not in the map
                        json.dumps(emobox_tree.entry("03a02Ta", emo="happpy")),    # typo: close to `happy`
                        "{not json"],
        stm_skip=["10a01Nb"], no_audio=["11a01Nd"],
        fold_extra=[json.dumps(emobox_tree.entry("99z99Wa"))])
    (root / "downloads/emodb/wav/03a02Ta.wav").symlink_to(emodb_root / "wav/03a02Ta.wav")
    with (folder / "data.seg.wrd.stm").open("a") as stm:
        stm.write("emodb-03a02Ta 1 male_03 0 2.0 <id=emodb-03a02Ta> happpy\n")
    config = _config(folder, root, cache_dir)
    corpus = load_corpus(config.data, config.cache_dir)
    reasons = collections.Counter(s["reason"] for s in corpus.skipped)
    assert reasons == {"excluded_label": 1, "unparsable_line": 1, "no_speaker": 1, "missing_audio": 1,
                       "fold_key_unknown": 1}
    detail = {s["reason"]: s for s in corpus.skipped}
    assert "'surprise'" in detail["excluded_label"]["detail"] and "emodb-99z99Wa" in detail["fold_key_unknown"]["detail"]
    assert detail["missing_audio"]["path"].endswith("11a01Nd.wav")
    # 12 listed − 2 skipped (no speaker, no audio) + the typo line read as Happy
    assert len(corpus) == 11
    i = int(np.flatnonzero(corpus.utt_ids == "emodb-03a02Ta")[0])
    assert corpus.classes[corpus.labels[i]] == "Happy"
    assert corpus.adjusted["label 'happpy' read as 'Happy' (close spelling)"] == 1
    # the fold keeps what exists: of its 12 utterances, the 2 skipped at build time are not in
    # it (nor is the typo line, which no fold file lists)
    fold = protocols.make_folds(config.protocol, corpus)[0]
    assert fold.test.size == 3 and fold.train.size + fold.val.size == 10 - 3


def test_label_map_lookup():
    labels = emobox.LabelMap({"anger": "Angry", "Neutral": "Neutral", "sad": "Sad", "boredem": "Boredom"})
    assert labels.lookup("anger") == ("Angry", "exact")
    assert labels.lookup("neutral") == ("Neutral", "case")
    assert labels.lookup(" Sad ") == ("Sad", "case")
    assert labels.lookup("boredom") == ("Boredom", "spelling")
    assert labels.lookup("mad") == (None, "none")  # 'sad' is one letter away but too short to trust
    assert emobox.LabelMap(None, known=["b", "a", "b"]).classes == ("a", "b")


def test_missing_pieces_are_one_line_errors(tmp_path, cache_dir):
    config = _config(tmp_path / "nowhere", tmp_path, cache_dir)
    with pytest.raises(emobox.EmoboxError, match="does not exist"):
        load_corpus(config.data, config.cache_dir)
    folder = tmp_path / "data" / "x"
    folder.mkdir(parents=True)
    (folder / "x.jsonl").write_text(json.dumps(emobox_tree.entry("03a01Fa")) + "\n")
    config = _config(folder, tmp_path, cache_dir)
    with pytest.raises(emobox.EmoboxError, match="data.seg.wrd.stm does not exist"):
        load_corpus(config.data, config.cache_dir)
    config.data.emobox = ""
    with pytest.raises(emobox.EmoboxError, match="needs the corpus folder"):
        load_corpus(config.data, config.cache_dir)


def test_emobox_folds_on_a_corpus_without_them_is_refused(emodb):
    with pytest.raises(protocols.ProtocolError, match="ships none"):
        protocols.official_folds(emodb)
