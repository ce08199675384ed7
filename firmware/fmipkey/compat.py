# The few names that differ between MicroPython and CPython.
import os

try:
    from micropython import const
except ImportError:
    def const(x):
        return x


def exists(path):
    # MicroPython's os has no os.path
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _libc():
    # MicroPython builds with ffi (OpenWrt's) reach libc's fsync; the stock unix port and the
    # boards have neither ffi nor os.fsync (littlefs commits a file when it is closed)
    try:
        import ffi
    except ImportError:
        return None
    for name in ("libc.so", "libc.so.6"):
        try:
            lib = ffi.open(name)
            return lib.func("i", "fsync", "i"), lib.func("i", "open", "si"), lib.func("i", "close", "i")
        except OSError:
            pass
    return None


_LIBC = None if hasattr(os, "fsync") else _libc()


def fsync(f):
    """Push an open file's data to the medium, where the port can (CPython, ffi builds)."""
    f.flush()
    if hasattr(os, "fsync"):
        os.fsync(f.fileno())
    elif _LIBC is not None:
        _LIBC[0](f.fileno())


def fsync_dir(path):
    """Make a rename in directory `path` durable, where the port can (a POSIX file system
    keeps the new name only once the directory is synced)."""
    if hasattr(os, "fsync"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    elif _LIBC is not None:
        fd = _LIBC[1](path, 0)
        if fd >= 0:
            _LIBC[0](fd)
            _LIBC[2](fd)


def create_private(path):
    """Make `path` a new empty file only its owner may read, where the file system has
    modes; open(path, "w") then keeps the mode. littlefs (ESP32) has none."""
    try:
        os.remove(path)
    except OSError:
        pass
    if hasattr(os, "open"):  # CPython
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    elif hasattr(os, "system"):  # the unix port has neither os.open nor chmod; its shell has umask
        os.system("umask 077 && : > '%s'" % path)


def on_fat(path):
    """True when `path` is on a FAT file system (a board's vfs mount), where a rename over a
    file is not atomic; False on littlefs, POSIX, or a port with no mount list to ask."""
    try:
        import vfs
        mounts = vfs.mount()
    except (ImportError, AttributeError, TypeError, OSError):
        return False
    if path[:1] != "/":
        path = os.getcwd().rstrip("/") + "/" + path
    fs, best = None, -1
    for f, point in mounts:
        p = point.rstrip("/")
        if (path.startswith(p + "/") or path == p) and len(p) > best:
            fs, best = f, len(p)
    return type(fs).__name__ == "VfsFat"
