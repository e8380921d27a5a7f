"""A manifest's values as people write them (issue 17, item 3): spellings of one label or one
speaker are one, and what would make a table wrong is refused or said, on real EmoDB audio."""

import numpy as np
import pytest

from configs import base
from ser_jax import describe, protocols
from ser_jax.corpora import load_corpus, manifest


def _config(csv_path, cache_dir):
    config = base.get_config()
    config.data.corpus, config.data.manifest, config.cache_dir = "manifest", str(csv_path), str(cache_dir)
    return config


def _wavs(emodb_root, speakers, letters="WN"):
    return [w for w in sorted((emodb_root / "wav").glob("*.wav")) if w.stem[:2] in speakers and w.stem[5] in letters]


def test_label_case_and_speaker_zeros_are_one_class_and_one_speaker(emodb_root, cache_dir, tmp_path):
    wavs = _wavs(emodb_root, ("03", "08"))
    labels = {"W": ["Anger", " anger", "ANGER "], "N": ["Neutral", "neutral"]}
    rows = [f"{w},{labels[w.stem[5]][i % len(labels[w.stem[5]])]},{w.stem[:2] if i % 2 else w.stem[1]}\n"
            for i, w in enumerate(wavs)]
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,speaker\n" + "".join(rows))
    corpus = load_corpus(_config(csv_path, cache_dir).data, cache_dir)
    assert corpus.classes == ("anger", "neutral") and len(corpus) == len(wavs)
    assert sorted(set(corpus.speakers.tolist())) == ["3", "8"]  # "03" and "3" are one speaker
    assert int(np.sum(corpus.speakers == "3")) == sum(w.stem[:2] == "03" for w in wavs)


def test_a_latin1_manifest_is_one_line_naming_the_fix(tmp_path, cache_dir):
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes("path,label,speaker\nä.wav,Ärger,1\n".encode("latin-1"))
    with pytest.raises(manifest.ManifestError, match=r"is not UTF-8 .*iconv"):
        load_corpus(_config(csv_path, cache_dir).data, cache_dir)


def test_the_same_audio_twice_is_kept_once_and_listed(emodb_root, cache_dir, tmp_path):
    wavs = _wavs(emodb_root, ("03", "08", "09"), "W") + _wavs(emodb_root, ("03", "08", "09"), "N")
    twice = tmp_path / "renamed_copy.wav"
    twice.write_bytes(wavs[0].read_bytes())  # the same recording under another name
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,speaker\n" + "".join(f"{w},{'anger' if w.stem[5] == 'W' else 'neutral'},{w.stem[:2]}\n"
                                                         for w in wavs) + f"{twice},neutral,09\n")
    corpus = load_corpus(_config(csv_path, cache_dir).data, cache_dir)
    assert len(corpus) == len(wavs)
    (dup,) = [s for s in corpus.skipped if s["reason"] == "duplicate_audio"]
    assert dup["path"] == str(twice) and str(wavs[0]) in dup["detail"]
    assert "speaker '3' there, '9' here" in dup["detail"]
    assert "label 'anger' there, 'neutral' here" in dup["detail"]


def test_a_single_class_corpus_is_refused(emodb_root, cache_dir, tmp_path):
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,speaker\n" + "".join(f"{w},anger,{w.stem[:2]}\n"
                                                         for w in _wavs(emodb_root, ("03", "08", "09"), "W")))
    config = _config(csv_path, cache_dir)
    with pytest.raises(protocols.ProtocolError, match="1 class.*at least 2"):
        protocols.make_folds(config.protocol, load_corpus(config.data, cache_dir))


def test_rare_classes_and_tiny_test_folds_are_warned_about(emodb_root, cache_dir, tmp_path):
    wavs = _wavs(emodb_root, ("03", "08", "09", "10"))
    rare = _wavs(emodb_root, ("03",), "F")[:3]
    lonely = _wavs(emodb_root, ("11",))[:2]  # a speaker with two utterances
    rows = [f"{w},{'anger' if w.stem[5] == 'W' else 'neutral'},{w.stem[:2]}\n" for w in wavs + lonely]
    rows += [f"{w},happiness,{w.stem[:2]}\n" for w in rare]
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,label,speaker\n" + "".join(rows))
    config = _config(csv_path, cache_dir)
    lines = []
    summary = describe.describe(config, out=lines.append)
    text = "\n".join(lines)
    assert "warning: class 'happiness' has 3 utterance(s)" in text
    assert "warning: fold test=11 " in text and "tests 2 utterance(s)" in text
    assert len(summary["warnings"]) == 2
