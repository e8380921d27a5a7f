"""When run.py restarts itself with glibc's huge pages, and with what environment."""

from ser_jax import hugepages


def test_environment_adds_the_tunable_where_glibc_and_the_kernel_allow_it():
    env = hugepages.environment({"PATH": "/bin"}, "madvise", (2, 36))
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    kept = hugepages.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, "madvise", (2, 35))
    assert kept["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"


def test_environment_leaves_the_process_alone_otherwise():
    assert hugepages.environment({}, "madvise", (2, 34)) is None  # glibc without the tunable
    assert hugepages.environment({}, "madvise", None) is None  # not glibc (musl, macOS)
    assert hugepages.environment({}, "always", (2, 36)) is None  # the kernel uses them already
    assert hugepages.environment({}, "never", (2, 36)) is None
    assert hugepages.environment({}, "", (2, 36)) is None  # no transparent huge pages at all
    # the user's own setting wins, and the restarted process sees it and does not restart again
    assert hugepages.environment({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}, "madvise", (2, 36)) is None
    again = hugepages.environment({}, "madvise", (2, 36))
    assert hugepages.environment(again, "madvise", (2, 36)) is None


def test_thp_mode_and_glibc_version_parsing(tmp_path):
    setting = tmp_path / "enabled"
    setting.write_text("always [madvise] never\n")
    assert hugepages.thp_mode(setting) == "madvise"
    setting.write_text("[always] madvise never\n")
    assert hugepages.thp_mode(setting) == "always"
    assert hugepages.thp_mode(tmp_path / "missing") == ""
    assert hugepages.glibc_version("glibc 2.36") == (2, 36)
    assert hugepages.glibc_version("glibc 2.41.9000") == (2, 41)
    assert hugepages.glibc_version(None) is None and hugepages.glibc_version("musl") is None
