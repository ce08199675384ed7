"""The key store survives power loss, not only kill -9: its data is synced before the rename
and the directory after it (CPython's os.fsync; the MicroPython ports reach libc's through ffi
where they have it, see compat.py)."""
import os
import time

from fmipkey.keystore import KeyStore


def test_save_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        calls.append(("fsync", os.readlink("/proc/self/fd/%d" % fd)))
        real_fsync(fd)

    def rename(a, b):
        calls.append(("rename", a, b))
        real_rename(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    ks = KeyStore(bytes(32))
    ks.issue(bytes(16), 0, time.time())
    path = str(tmp_path / "keystore.bin")
    ks.save(path)
    assert calls == [("fsync", path + ".tmp"), ("rename", path + ".tmp", path), ("fsync", str(tmp_path))]
    back = KeyStore(bytes(32))
    back.load(path, time.time())
    assert back.get(bytes(16), time.time()) == ks.get(bytes(16), time.time())
