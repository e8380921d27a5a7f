"""IEMOCAP as a TFDS builder (licensed: read from the user's `IEMOCAP_full_release`).

Layout: `SessionN/sentences/wav/<dialog>/<utt>.wav` and
`SessionN/dialog/EmoEvaluation/<dialog>.txt`, whose utterance lines read
`[START - END]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[V, A, D]`; annotator lines and the
header are ignored. The letter before an utterance's 3-digit index is its speaker's
gender, so the speaker id is session + letter (`Ses01F`).
"""

from __future__ import annotations

import re
from pathlib import Path

import tensorflow_datasets as tfds

from ser_jax.corpora import base, labels
from ser_jax.errors import SerJaxError

_LINE = re.compile(
    r"^\[(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\]\s+(?P<utt>\S+)\s+(?P<label>\S+)\s+"
    r"\[(?P<v>[-\d.]+),\s*(?P<a>[-\d.]+),\s*(?P<d>[-\d.]+)\]\s*$")
_UTT = re.compile(r"^(?P<session>Ses\d\d)[FM]_(?P<rest>\w+)_(?P<gender>[FM])\d{3}$")

FIX_HINT = ("pass --config.data.root=/path/to/IEMOCAP_full_release (the folder holding "
        "Session1 ... Session5), or set SER_JAX_DATA to the folder that holds IEMOCAP_full_release/")


class IemocapError(SerJaxError):
    """The IEMOCAP folder is missing or not laid out as released."""


def find_release_dir(root) -> Path:
    """`root` itself or `root/IEMOCAP_full_release`, whichever holds `Session*` folders."""
    root = Path(root).expanduser()
    for candidate in (root, root / "IEMOCAP_full_release"):
        if candidate.is_dir() and any(candidate.glob("Session*/dialog/EmoEvaluation")):
            return candidate
    if not root.is_dir():
        raise IemocapError(f"IEMOCAP folder {root} does not exist: {FIX_HINT}")
    raise IemocapError(f"IEMOCAP folder {root} holds no SessionN/dialog/EmoEvaluation: {FIX_HINT}")


def parse_evaluation(path: Path, label_set: labels.IemocapLabelSet) -> base.Listing:
    """Yields an Utterance or Skip for every utterance line of one EmoEvaluation file.

    Args:
      path: `SessionN/dialog/EmoEvaluation/<dialog>.txt`.
      label_set: which raw labels to keep and how to name them.
    """
    session_dir = path.parents[2]
    for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.startswith("["):
            continue  # header, blank and annotator lines (C-E1:, A-F1: ...)
        where = f"{path}:{lineno}"
        match = _LINE.match(line)
        utt = _UTT.match(match["utt"]) if match else None
        if utt is None:
            yield base.Skip(where, "unparsable_line",
                            f"{line.strip()!r} is not '[START - END] UTT_ID LABEL [V, A, D]'; "
                            "fix or delete the line")
            continue
        raw, utt_id = match["label"], match["utt"]
        if raw not in labels.IEMOCAP_RAW_LABELS:
            yield base.Skip(where, "unknown_label",
                            f"label {raw!r} of {utt_id} is not one of {', '.join(labels.IEMOCAP_RAW_LABELS)}")
            continue
        dialog = utt_id.rsplit("_", 1)[0]
        improvised = "impro" in dialog
        if label_set.improvised_only and not improvised:
            yield base.Skip(where, "excluded_scripted", f"{utt_id}: label set {label_set.name} keeps improvised dialogs only")
            continue
        if raw not in label_set.mapping:
            yield base.Skip(where, "excluded_label", f"{utt_id}: {raw!r} is outside label set {label_set.name}")
            continue
        wav = session_dir / "sentences" / "wav" / dialog / f"{utt_id}.wav"
        if not wav.is_file():
            yield base.Skip(str(wav), "missing_audio", f"{utt_id} is labelled in {where} but has no wav file")
            continue
        yield base.Utterance(
            path=str(wav), utt_id=utt_id, label=label_set.mapping[raw], raw_label=raw,
            speaker=utt["session"] + utt["gender"], session=utt["session"], gender=utt["gender"],
            improvised=improvised, start_s=float(match["start"]), end_s=float(match["end"]),
            vad=(float(match["v"]), float(match["a"]), float(match["d"])))


class Iemocap(base.SpeechCorpusBuilder, skip_registration=True):
    """IEMOCAP, one builder config per label set (`labels.IEMOCAP_LABEL_SETS`).

    Args (keyword):
      root: `IEMOCAP_full_release` (or its parent); used as TFDS `manual_dir`.
      **kwargs: see `base.SpeechCorpusBuilder` (pass `config=` a label-set name).
    """

    name = "iemocap"
    DESCRIPTION = "Interactive Emotional Dyadic Motion Capture database (Busso et al., 2008)."
    HOMEPAGE = "https://sail.usc.edu/iemocap/"
    CITATION = ("@article{busso2008iemocap, title={IEMOCAP: Interactive emotional dyadic motion "
                "capture database}, author={Busso, Carlos and others}, journal={Language Resources "
                "and Evaluation}, year={2008}}")
    MANUAL_DOWNLOAD_INSTRUCTIONS = ("IEMOCAP is licensed: request it from "
                                    "https://sail.usc.edu/iemocap/ and " + FIX_HINT)
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name, description=s.description)
                       for name, s in labels.IEMOCAP_LABEL_SETS.items()]

    def __init__(self, *, root, **kwargs):
        self.release_dir = find_release_dir(root)
        super().__init__(**kwargs)

    def download_config(self) -> tfds.download.DownloadConfig:
        return tfds.download.DownloadConfig(manual_dir=str(self.release_dir))

    @property
    def label_set(self) -> labels.IemocapLabelSet:
        return labels.IEMOCAP_LABEL_SETS[self.builder_config.name]

    @property
    def classes(self):
        return self.label_set.classes

    def list_utterances(self, dl_manager) -> base.Listing:
        release = Path(dl_manager.manual_dir)
        for session_dir in sorted(release.glob("Session*")):
            for txt in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
                if not txt.name.startswith("._"):  # macOS resource forks in some copies
                    yield from parse_evaluation(txt, self.label_set)


DATA_FOLDER = "IEMOCAP_full_release"


def source(data):
    """(builder class, keyword arguments, source fingerprint) of `config.data`."""
    if not data.root:
        raise IemocapError("IEMOCAP has no public download: " + FIX_HINT)
    release = find_release_dir(data.root)
    fingerprint = base.dir_fingerprint(release, "Session*/dialog/EmoEvaluation/*.txt", "Session*/sentences/wav/*/*.wav")
    return Iemocap, dict(root=release, config=data.label_set), fingerprint
