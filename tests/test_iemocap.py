"""IEMOCAP parsing on a fixture tree in the released layout, written by the test."""

import numpy as np
import pytest

from iemocap_tree import make_tree, utterances
from configs import base
from ser_jax.corpora import iemocap, load_corpus


def _config(root, cache, label_set):
    config = base.get_config()
    config.data.corpus = "iemocap"
    config.data.root = str(root)
    config.data.label_set = label_set
    config.cache_dir = str(cache)
    return config


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("iemocap")
    make_tree(root, extra_lines={
        "Ses01F_impro01": ["[3.0 - x]\tSes01F_impro01_F099\tneu\t[2.5, 2.5, 2.5]\n",
                           "[50.0000 - 51.0000]\tSes01F_impro01_M098\tzzz\t[2.5000, 2.5000, 2.5000]\n",
                           "[60.0000 - 61.0000]\tSes01F_impro01_F097\tang\t[2.5000, 2.5000, 2.5000]\n"],
    })
    return root, tmp_path_factory.mktemp("iemocap_cache")


def _names(corpus):
    return dict(zip(corpus.utt_ids.tolist(), np.asarray(corpus.classes)[corpus.labels].tolist()))


def test_improvised_four_classes(tree):
    root, cache = tree
    corpus = load_corpus(_config(root, cache, "improvised_4").data, cache)
    expected = {utt: {"ang": "anger", "hap": "happiness", "neu": "neutral", "sad": "sadness"}[raw]
                for _, dialog, utt, raw in utterances()
                if "impro" in dialog and raw in ("ang", "hap", "neu", "sad")}
    assert _names(corpus) == expected
    assert corpus.name == "iemocap/improvised_4"
    assert corpus.classes == ("anger", "happiness", "neutral", "sadness")


def test_excited_merged_into_happy_over_all_speech(tree):
    root, cache = tree
    corpus = load_corpus(_config(root, cache, "merged_4").data, cache)
    mapping = {"ang": "anger", "hap": "happiness", "exc": "happiness", "neu": "neutral", "sad": "sadness"}
    expected = {utt: mapping[raw] for _, _, utt, raw in utterances() if raw in mapping}
    assert _names(corpus) == expected
    assert any("script" in u for u in corpus.utt_ids)  # scripted dialogs are kept here


def test_raw_labels_speakers_sessions_and_annotations(tree):
    root, cache = tree
    corpus = load_corpus(_config(root, cache, "raw").data, cache)
    rows = utterances()
    assert corpus.utt_ids.tolist() == [u for _, _, u, _ in rows]
    assert _names(corpus) == {u: raw for _, _, u, raw in rows}  # includes xxx, fru, oth ...
    # The speaker is the session plus the letter before the 3-digit index, not the dialog's letter.
    i = corpus.utt_ids.tolist().index("Ses01M_script01_1_F001")
    assert corpus.speakers[i] == "Ses01F" and corpus.sessions[i] == "Ses01"
    assert sorted(set(corpus.speakers.tolist())) == ["Ses01F", "Ses01M", "Ses02F", "Ses02M",
                                                     "Ses03F", "Ses03M"]
    record = corpus.records[int(corpus.record_index[i])]
    assert not record["improvised"] and record["raw_label"] == b"ang"
    np.testing.assert_allclose(record["vad"], [2.5, 3.0, 3.5])
    assert record["start"] == pytest.approx(4.0) and record["end"] == pytest.approx(4.6)
    assert corpus.durations[i] == pytest.approx(0.6, abs=1e-3)


def test_bad_lines_unknown_labels_and_missing_audio_are_listed(tree):
    root, cache = tree
    corpus = load_corpus(_config(root, cache, "raw").data, cache)
    by_reason = {}
    for s in corpus.skipped:
        by_reason.setdefault(s["reason"], []).append(s)
    assert set(by_reason) == {"unparsable_line", "unknown_label", "missing_audio"}
    (bad,) = by_reason["unparsable_line"]
    txt = root / "IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    lineno = txt.read_text().splitlines().index("[3.0 - x]\tSes01F_impro01_F099\tneu\t[2.5, 2.5, 2.5]") + 1
    assert bad["path"] == f"{txt}:{lineno}" and "[3.0 - x]" in bad["detail"]
    (unknown,) = by_reason["unknown_label"]
    assert "'zzz'" in unknown["detail"]
    (missing,) = by_reason["missing_audio"]
    assert missing["path"].endswith("Ses01F_impro01_F097.wav")


def test_filtered_utterances_are_counted_not_dropped(tree):
    root, cache = tree
    corpus = load_corpus(_config(root, cache, "improvised_4").data, cache)
    reasons = [s["reason"] for s in corpus.skipped]
    n_scripted = sum(1 for _, d, _, _ in utterances() if "script" in d)
    assert reasons.count("excluded_scripted") == n_scripted
    n_impro_other = sum(1 for _, d, _, r in utterances()
                        if "impro" in d and r not in ("ang", "hap", "neu", "sad"))
    assert reasons.count("excluded_label") == n_impro_other


def test_missing_release_folder(tmp_path):
    with pytest.raises(iemocap.IemocapError, match=r"does not exist.*IEMOCAP_full_release"):
        load_corpus(_config(tmp_path / "absent", tmp_path, "improvised_4").data, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(iemocap.IemocapError, match="holds no SessionN/dialog/EmoEvaluation"):
        load_corpus(_config(tmp_path / "empty", tmp_path, "improvised_4").data, tmp_path)
