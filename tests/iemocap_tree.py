"""Writes an IEMOCAP-format folder (the released layout) with known content for tests."""

from pathlib import Path

from audio_files import tone, write_wav

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"

# (dialog, utterance speaker letter, raw label) per utterance, indices numbered per dialog.
DIALOGS = {
    "Session1": {
        "Ses01F_impro01": ["F:neu", "M:ang", "F:hap", "M:sad", "F:exc", "M:fru", "F:xxx"],
        "Ses01M_script01_1": ["M:neu", "F:ang", "M:exc", "F:sur", "M:fea"],
    },
    "Session2": {
        "Ses02F_impro02": ["F:sad", "M:hap", "F:dis", "M:oth", "F:ang"],
        "Ses02M_script02_2": ["F:neu", "M:hap", "F:exc", "M:sad"],
    },
    "Session3": {
        "Ses03M_impro03": ["M:ang", "F:neu", "M:exc", "F:sad"],
    },
}


def utterances():
    """[(session_dir, dialog, utt_id, raw_label)] in file order."""
    rows = []
    for session, dialogs in DIALOGS.items():
        for dialog, specs in dialogs.items():
            for i, spec in enumerate(specs):
                letter, label = spec.split(":")
                rows.append((session, dialog, f"{dialog}_{letter}{i:03d}", label))
    return rows


def make_tree(root: Path, extra_lines: dict | None = None) -> Path:
    """Writes root/IEMOCAP_full_release; returns that folder.

    Args:
      extra_lines: dialog → raw lines appended to its EmoEvaluation file (bad lines).
    """
    release = root / "IEMOCAP_full_release"
    n = 0  # every utterance its own tone: identical audio would be kept once (duplicate_audio)
    for session, dialogs in DIALOGS.items():
        for dialog in dialogs:
            lines = [HEADER]
            for k, (_, d, utt, label) in enumerate(u for u in utterances() if u[1] == dialog):
                start = 1.0 + 3 * k
                lines.append(f"[{start:.4f} - {start + 0.6:.4f}]\t{utt}\t{label}\t[2.5000, 3.0000, 3.5000]\n")
                lines.append(f"C-E1:\tNeutral;\t()\nC-E2:\tAnger;\t()\nA-F1:\tval 3; act 2; dom  2;\t()\n\n")
                write_wav(release / session / "sentences" / "wav" / dialog / f"{utt}.wav",
                          tone(0.6, 16000, freq=200 + 37 * n))
                n += 1
            lines.extend((extra_lines or {}).get(dialog, []))
            path = release / session / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(lines))
    return release
