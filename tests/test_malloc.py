"""When run.py restarts itself with glibc malloc settings, and with what environment."""

import os
import subprocess
import sys
from pathlib import Path

from ser_jax import malloc

KEEP = "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4611686018427387904"


def test_environment_adds_both_settings_where_glibc_and_the_kernel_allow_them():
    env = malloc.environment({"PATH": "/bin"}, "madvise", (2, 36))
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1:" + KEEP}
    # a tunable the user set is kept as set; the others are appended
    kept = malloc.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "madvise", (2, 35))
    assert kept["GLIBC_TUNABLES"] == ("glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1:glibc.malloc.mmap_max=0:"
                                      "glibc.malloc.trim_threshold=4611686018427387904")


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


def test_release_free_memory_hands_kept_memory_back_to_the_kernel():
    # a real process with run.py's settings: a freed 400 MB buffer stays resident until released
    script = (
        "import numpy as np, sys\n"
        "from ser_jax import malloc\n"
        "def rss():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) // 1024\n"
        "a = np.ones(100_000_000, np.float32); del a\n"
        "kept = rss(); released = malloc.release_free_memory(); after = rss()\n"
        "print(kept, after, released)\n")
    env = {**os.environ, **malloc.environment({}, "never", (2, 36))}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    kept, after, released = done.stdout.split()
    assert int(kept) > 400 and int(after) < int(kept) - 300 and released == "True", done.stdout
