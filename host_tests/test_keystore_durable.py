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


def test_without_os_fsync_libc_fsync_is_reached_through_ffi(tmp_path, monkeypatch):
    """A MicroPython build with ffi (OpenWrt's) has no os.fsync: compat calls libc's. Here the
    ffi stand-in over ctypes (ffi_ctypes.py) reaches the real libc, so the type codes and the
    library names are checked; each call returns 0 only for a real open descriptor."""
    import sys

    import ffi_ctypes
    from fmipkey import compat
    monkeypatch.setitem(sys.modules, "ffi", ffi_ctypes)
    libc = compat._libc()
    assert libc is not None
    fsync, open_, close = libc
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x")
        f.flush()
        assert fsync(f.fileno()) == 0
    fd = open_(str(tmp_path), 0)
    assert fd >= 0 and fsync(fd) == 0 and close(fd) == 0
    assert fsync(fd) == -1                   # closed: the result is libc's, not a constant
    calls = []
    monkeypatch.setattr(compat, "_LIBC", (lambda fd: calls.append(fd) or fsync(fd), open_, close))
    monkeypatch.delattr(os, "fsync")
    ks = KeyStore(bytes(32))
    ks.issue(bytes(16), 0, time.time())
    ks.save(str(tmp_path / "keystore.bin"))
    assert len(calls) == 2                   # the file, then its directory
