"""write_atomic: whole files or none, never over an existing file unless asked, the
user's usual permissions, and no change to process-wide state (other threads run)."""

import os
import stat

import pytest

from kmeans_compress import OutputExistsError, write_atomic


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_new_file_gets_0666_less_the_umask(tmp_path, umask_027):
    target = write_atomic(tmp_path / "a.bin", b"abc")
    assert target.read_bytes() == b"abc"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_never_touches_the_process_umask(tmp_path, monkeypatch):
    # Reading the umask means setting it, which races with every other thread of
    # the process (threaded Dask workers write files at the same time).
    def forbidden(mask):
        raise AssertionError(f"os.umask({mask:#o}) called")

    monkeypatch.setattr(os, "umask", forbidden)
    write_atomic(tmp_path / "a.bin", b"abc")
    write_atomic(tmp_path / "a.bin", b"def", overwrite=True)
    assert (tmp_path / "a.bin").read_bytes() == b"def"


def test_existing_file_kept_without_overwrite_and_no_temporary_left(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="a.bin"):
        write_atomic(tmp_path / "a.bin", b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"old"
    write_atomic(tmp_path / "a.bin", b"new", overwrite=True)
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_atomic(tmp_path / "nope" / "a.bin", b"x")
