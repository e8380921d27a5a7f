"""Several processes starting on the same unbuilt corpus (one sweep per core) all succeed."""

import subprocess
import sys
import textwrap

from audio_files import tone, write_wav

_LOAD = textwrap.dedent("""
    import sys
    from configs import base
    from ser_jax.corpora import load_corpus
    config = base.get_config()
    config.data.corpus = "manifest"
    config.data.manifest = sys.argv[1]
    corpus = load_corpus(config.data, sys.argv[2])
    print("loaded", len(corpus))
""")


def test_processes_building_one_corpus_at_once_all_load_it(tmp_path):
    lines = ["path,label,speaker,session"]
    for i in range(60):
        path = write_wav(tmp_path / "audio" / f"u{i}.wav", tone(1.0, 22050, 150 + 10 * i), 22050)
        lines.append(f"{path},{('calm', 'angry')[i % 2]},spk{i % 3},s1")
    csv_path = tmp_path / "corpus.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    cache = tmp_path / "cache"
    procs = [subprocess.Popen([sys.executable, "-c", _LOAD, str(csv_path), str(cache)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    for out, err, code in results:
        assert code == 0, err[-2000:]
        assert out.strip().endswith("loaded 60")
    builds = list((cache / "tfds").glob("manifest-*/manifest/*/*.array_record*"))
    assert builds and not list((cache / "tfds").glob("manifest-*/manifest/incomplete*"))
