"""Evaluation protocols: train / validation / test indices per fold.

Every fold is checked when it is made (not only in tests): the three parts are
non-empty and disjoint, and a protocol that claims speaker independence shares no
speaker between them. Model selection uses `val` only; `test` is touched once.

| name | used by | folds |
|---|---|---|
| `loso` | EmoDB | one per speaker: test = that speaker, val = the next speaker(s), train = the rest |
| `loso_session` | Tripathi et al. (000) on IEMOCAP | held-out session's speakers split into val and test; `both_directions` tests each speaker once |
| `fixed_sessions` | Lian et al. (002) | train sessions 1–3, val 4, test 5 |
| `stratified_kfold` | Dai et al. (001) | k stratified folds; held-out fold halved into val (dev) and test; not speaker independent |
| `emobox_folds` | EmoBox corpora | the corpus's official train/test folds; val = speakers drawn from each fold's train part; speaker independence checked per fold |
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from ser_jax.errors import SerJaxError

PROTOCOLS = ("loso", "loso_session", "fixed_sessions", "stratified_kfold", "emobox_folds")


class ProtocolError(SerJaxError):
    """A fold violates the protocol's guarantees, or the corpus cannot support it."""


@dataclasses.dataclass(frozen=True)
class Fold:
    """Index arrays (into the corpus) of one fold.

    Attributes:
      name: e.g. `test=03 val=08`.
      train, val, test: int64 index arrays, sorted, pairwise disjoint.
      speaker_independent: whether the three parts share no speaker.
    """

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    speaker_independent: bool


def checked(fold: Fold, speakers: np.ndarray) -> Fold:
    """Returns `fold` after verifying its guarantees.

    Raises:
      ProtocolError: an empty part, an index in two parts, or (when the fold claims
        speaker independence) a speaker in two parts.
    """
    parts = {"train": fold.train, "val": fold.val, "test": fold.test}
    for name, idx in parts.items():
        if idx.size == 0:
            raise ProtocolError(f"fold {fold.name}: {name} is empty")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = np.intersect1d(parts[a], parts[b])
        if shared.size:
            raise ProtocolError(f"fold {fold.name}: {shared.size} utterances in both {a} and {b}")
        if fold.speaker_independent:
            both = np.intersect1d(speakers[parts[a]], speakers[parts[b]])
            if both.size:
                raise ProtocolError(f"fold {fold.name}: speaker(s) {both.tolist()} in both {a} and {b}")
    return fold


def _fold(name, speakers, train_mask, val_mask, test_mask, independent=True) -> Fold:
    idx = lambda m: np.flatnonzero(m).astype(np.int64)  # noqa: E731
    return checked(Fold(name, idx(train_mask), idx(val_mask), idx(test_mask), independent), speakers)


def leave_one_speaker_out(speakers, *, val_speakers: int = 1) -> list[Fold]:
    """One fold per speaker; validation = the next `val_speakers` speakers (cyclic order).

    Args:
      speakers: str [N] speaker of each utterance.
      val_speakers: speakers held out for model selection in each fold.
    """
    speakers = np.asarray(speakers)
    ids = sorted(set(speakers.tolist()))
    if len(ids) < val_speakers + 2:
        raise ProtocolError(f"leave-one-speaker-out needs at least {val_speakers + 2} speakers, "
                            f"the corpus has {len(ids)}")
    folds = []
    for k, test in enumerate(ids):
        val = [ids[(k + j) % len(ids)] for j in range(1, val_speakers + 1)]
        test_mask, val_mask = speakers == test, np.isin(speakers, val)
        folds.append(_fold(f"test={test} val={','.join(val)}", speakers,
                           ~(test_mask | val_mask), val_mask, test_mask))
    return folds


def leave_one_session_out(sessions, speakers, *, both_directions: bool = True) -> list[Fold]:
    """Train on the other sessions; the held-out session's speakers become val and test.

    Args:
      sessions, speakers: str [N].
      both_directions: make a fold for each speaker of the session as test (the other(s)
        as validation), so every utterance is tested once; False gives one fold per
        session with its first speaker (sorted) as test, as in Tripathi et al.'s 5 folds.
    """
    sessions, speakers = np.asarray(sessions), np.asarray(speakers)
    ids = sorted(set(sessions.tolist()))
    if len(ids) < 2 or "" in ids:
        raise ProtocolError("leave-one-session-out needs a session for every utterance and at "
                            f"least 2 sessions; found {ids}")
    folds = []
    for session in ids:
        in_session = sessions == session
        members = sorted(set(speakers[in_session].tolist()))
        if len(members) < 2:
            raise ProtocolError(f"session {session} has {len(members)} speaker(s); splitting it into "
                                "validation and test needs 2")
        for test in members if both_directions else members[:1]:
            test_mask = speakers == test
            folds.append(_fold(f"test={test} val={session}-rest", speakers,
                               ~in_session, in_session & ~test_mask, test_mask))
    return folds


def fixed_sessions(sessions, speakers, *, train, val, test) -> list[Fold]:
    """A single fold from named sessions (Lian et al.: Ses01–03 / Ses04 / Ses05)."""
    sessions, speakers = np.asarray(sessions), np.asarray(speakers)
    present = set(sessions.tolist())
    missing = sorted((set(train) | set(val) | set(test)) - present)
    if missing:
        raise ProtocolError(f"sessions {missing} are not in the corpus (it has {sorted(present)})")
    return [_fold(f"train={'+'.join(train)} val={'+'.join(val)} test={'+'.join(test)}", speakers,
                  np.isin(sessions, train), np.isin(sessions, val), np.isin(sessions, test))]


def stratified_kfold(labels, speakers, *, k: int = 5, seed: int = 0) -> list[Fold]:
    """Dai et al.: k stratified random folds; the held-out one halved into dev and test.

    Not speaker independent (the seed's protocol is not): folds say so.
    """
    labels, speakers = np.asarray(labels), np.asarray(speakers)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    for i, (train, held) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        dev, test = train_test_split(held, test_size=0.5, stratify=labels[held], random_state=seed + i)
        masks = [np.isin(np.arange(len(labels)), part) for part in (train, dev, test)]
        folds.append(_fold(f"fold {i + 1}/{k}", speakers, *masks, independent=False))
    return folds


def official_folds(corpus, *, val_speakers: int = 1, seed: int = 0) -> list[Fold]:
    """Exactly the corpus's own train/test folds (EmoBox); in each, `val_speakers` speakers of
    the train part (drawn with `seed` and the fold number) become validation, never any
    utterance of the test part. A fold is marked speaker independent only if no test speaker
    also speaks in its train or validation part (checked, not assumed: EmoDB's EmoBox folds
    are not).

    Args:
      corpus: a `ser_jax.corpora.Corpus` whose `official_folds` lists utterance ids per part.
    """
    if not corpus.official_folds:
        raise ProtocolError(f"protocol emobox_folds needs the corpus's official folds, and {corpus.name} ships none: "
                            "use --config.data.corpus=emobox with --config.data.emobox=PATH/EmoBox/data/<corpus>")
    index = {u: i for i, u in enumerate(corpus.utt_ids.tolist())}
    speakers = np.asarray(corpus.speakers)
    folds = []
    for n, fold in enumerate(corpus.official_folds):
        train = np.zeros(len(speakers), bool)
        test = np.zeros(len(speakers), bool)
        train[[index[u] for u in fold["train"] if u in index]] = True  # an utterance skipped at build is absent
        test[[index[u] for u in fold["test"] if u in index]] = True
        candidates = sorted(set(speakers[train & ~test].tolist()))
        if len(candidates) < val_speakers + 1:
            raise ProtocolError(f"{fold['name']}: its train part has {len(candidates)} speaker(s); holding out "
                                f"{val_speakers} for validation needs {val_speakers + 1}: lower "
                                "--config.protocol.val_speakers")
        rng = np.random.default_rng([seed, n])
        val_ids = sorted(rng.choice(candidates, size=val_speakers, replace=False).tolist())
        val = train & ~test & np.isin(speakers, val_ids)
        train &= ~val & ~test
        independent = not np.intersect1d(speakers[test], speakers[train | val]).size
        folds.append(_fold(f"{fold['name']} val={','.join(val_ids)}", speakers, train, val, test, independent))
    return folds


# Below these, a figure is mostly noise: said in describe, in train's output and in results.md.
MIN_CLASS_UTTERANCES = 10
MIN_TEST_UTTERANCES = 10


def warnings(corpus, folds) -> list[str]:
    """What makes this corpus's figures fragile, one line each: rare classes, tiny test parts."""
    lines = []
    counts = np.bincount(corpus.labels, minlength=len(corpus.classes))
    for name, n in zip(corpus.classes, counts):
        if n < MIN_CLASS_UTTERANCES:
            lines.append(f"class {name!r} has {n} utterance(s) (< {MIN_CLASS_UTTERANCES}): its recall is noise and "
                         "weighs 1/C in UA; leave it out with --config.data.classes or add data")
    for fold in folds:
        if fold.test.size < MIN_TEST_UTTERANCES:
            lines.append(f"fold {fold.name} tests {fold.test.size} utterance(s) (< {MIN_TEST_UTTERANCES}), yet counts as "
                         "much as any fold in mean ± std (the pooled figures weigh folds by size)")
    return lines


def make_folds(protocol, corpus) -> list[Fold]:
    """The folds `config.protocol` asks for, over `corpus`.

    Args:
      protocol: `config.protocol` (name, val_speakers, both_directions, train_sessions,
        val_sessions, test_sessions, folds, seed).
      corpus: a `ser_jax.corpora.Corpus`.
    """
    name = protocol.name
    present = np.unique(corpus.labels).size
    if present < 2:
        raise ProtocolError(f"{corpus.name} has {present} class(es) with utterances: classification needs at least 2 "
                            "(check the labels, or --config.data.classes)")
    if name == "loso":
        return leave_one_speaker_out(corpus.speakers, val_speakers=protocol.val_speakers)
    if name == "loso_session":
        return leave_one_session_out(corpus.sessions, corpus.speakers,
                                     both_directions=protocol.both_directions)
    if name == "fixed_sessions":
        return fixed_sessions(corpus.sessions, corpus.speakers, train=tuple(protocol.train_sessions),
                              val=tuple(protocol.val_sessions), test=tuple(protocol.test_sessions))
    if name == "stratified_kfold":
        return stratified_kfold(corpus.labels, corpus.speakers, k=protocol.folds, seed=protocol.seed)
    if name == "emobox_folds":
        return official_folds(corpus, val_speakers=protocol.val_speakers, seed=protocol.seed)
    raise ProtocolError(f"unknown protocol {name!r}: set --config.protocol.name to one of {PROTOCOLS}")
