"""Label vocabularies of the supported corpora and the label sets the seeds use."""

from __future__ import annotations

import dataclasses

EMODB_EMOTION_CODES = {
    "W": "anger",       # Wut
    "L": "boredom",     # Langeweile
    "E": "disgust",     # Ekel
    "A": "fear",        # Angst
    "F": "happiness",   # Freude
    "T": "sadness",     # Trauer
    "N": "neutral",
}
EMODB_CLASSES = ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")
EMODB_FEMALE_SPEAKERS = frozenset({"08", "09", "13", "14", "16"})

IEMOCAP_RAW_LABELS = ("neu", "hap", "exc", "sad", "ang", "fru", "sur", "fea", "dis", "oth", "xxx")


@dataclasses.dataclass(frozen=True)
class IemocapLabelSet:
    """Which IEMOCAP utterances to keep and what to call their labels.

    Attributes:
      name: builder-config name.
      description: one line for the catalogue and `--mode=describe`.
      classes: class names, in label-index order.
      mapping: raw IEMOCAP label → class name; raw labels absent here are left out.
      improvised_only: keep only dialogs whose name contains `impro`.
    """

    name: str
    description: str
    classes: tuple[str, ...]
    mapping: dict
    improvised_only: bool


_FOUR = ("anger", "happiness", "neutral", "sadness")

IEMOCAP_LABEL_SETS = {
    s.name: s
    for s in (
        IemocapLabelSet(
            name="improvised_4",
            description="4 classes (ang, hap, neu, sad) on improvised dialogs only (Tripathi et al.)",
            classes=_FOUR,
            mapping={"ang": "anger", "hap": "happiness", "neu": "neutral", "sad": "sadness"},
            improvised_only=True),
        IemocapLabelSet(
            name="merged_4",
            description="4 classes with excited merged into happy, all speech (Dai et al., Lian et al.)",
            classes=_FOUR,
            mapping={"ang": "anger", "hap": "happiness", "exc": "happiness", "neu": "neutral",
                     "sad": "sadness"},
            improvised_only=False),
        IemocapLabelSet(
            name="raw",
            description="every raw IEMOCAP label as its own class, all speech",
            classes=IEMOCAP_RAW_LABELS,
            mapping={label: label for label in IEMOCAP_RAW_LABELS},
            improvised_only=False),
    )
}
