"""When run.py restarts itself with glibc malloc settings, and with what environment."""

import os
import subprocess
import sys
from pathlib import Path

from ser_jax import malloc

KEEP = "glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=4611686018427387904"


def test_environment_adds_both_settings_where_glibc_and_the_kernel_allow_them():
    env = malloc.environment({"PATH": "/bin"}, "madvise", (2, 36))
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1:" + KEEP}
    # a tunable the user set is kept as set; the others are appended
    kept = malloc.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "madvise", (2, 35))
    assert kept["GLIBC_TUNABLES"] == ("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1:"
                                      "glibc.malloc.trim_threshold=4611686018427387904")
    assert not malloc.one_arena(kept) and malloc.one_arena(env)


def test_huge_pages_need_glibc_2_35_and_the_madvise_mode_keeping_freed_memory_does_not():
    for mode, glibc in (("madvise", (2, 34)), ("always", (2, 36)), ("never", (2, 36)), ("", (2, 36))):
        assert malloc.environment({}, mode, glibc) == {"GLIBC_TUNABLES": KEEP}
    assert malloc.environment({}, "madvise", (2, 36), keep_freed=False) == {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    assert malloc.environment({}, "madvise", (2, 36), huge_pages=False) == {"GLIBC_TUNABLES": KEEP}


def test_environment_leaves_the_process_alone_otherwise():
    assert malloc.environment({}, "madvise", None) is None  # not glibc (musl, macOS)
    assert malloc.environment({}, "madvise", (2, 25)) is None  # glibc without tunables
    assert malloc.environment({}, "madvise", (2, 36), huge_pages=False, keep_freed=False) is None
    assert malloc.environment({}, "always", (2, 36), keep_freed=False) is None
    # the user's own settings win, and the restarted process sees them and does not restart again
    user = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0:" + KEEP.replace("arena_max=1", "arena_max=4")}
    assert malloc.environment(user, "madvise", (2, 36)) is None
    again = malloc.environment({}, "madvise", (2, 36))
    assert malloc.environment(again, "madvise", (2, 36)) is None


def test_thp_mode_and_glibc_version_parsing(tmp_path):
    setting = tmp_path / "enabled"
    setting.write_text("always [madvise] never\n")
    assert malloc.thp_mode(setting) == "madvise"
    setting.write_text("[always] madvise never\n")
    assert malloc.thp_mode(setting) == "always"
    assert malloc.thp_mode(tmp_path / "missing") == ""
    assert malloc.glibc_version("glibc 2.36") == (2, 36)
    assert malloc.glibc_version("glibc 2.41.9000") == (2, 41)
    assert malloc.glibc_version(None) is None and malloc.glibc_version("musl") is None


def _rss_in_process(env: dict) -> list[int]:
    """Resident MiB in a fresh process with `env`: a freed 400 MB buffer inside
    keeping_freed_memory, after leaving it, and a freed 400 MB buffer after that."""
    script = (
        "import numpy as np\n"
        "from ser_jax import malloc\n"
        "def rss():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024\n"
        "with malloc.keeping_freed_memory():\n"
        "    a = np.ones(100_000_000, np.float32); del a\n"
        "    inside = rss()\n"
        "left = rss()\n"
        "b = np.ones(100_000_000, np.float32); del b\n"
        "print(inside, left, rss())\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    return [int(value) for value in done.stdout.split()]


def test_keeping_freed_memory_keeps_it_within_and_hands_it_back_on_leaving():
    # real processes, real glibc: with run.py's one arena a freed 400 MB buffer stays resident
    # inside, is handed back on leaving, and a later one is not kept
    inside, left, later = _rss_in_process({**os.environ, **malloc.environment({}, "never", (2, 36))})
    assert inside > 400 and left < inside - 300 and later < inside - 300, (inside, left, later)
    # without one arena (--nokeep_freed_memory) it does nothing: the buffer goes back at once
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    inside, left, later = _rss_in_process(env)
    assert inside < 300 and left < 300 and later < 300, (inside, left, later)
