"""Private files (keys, device secrets) on the host: created 0600 from the start with
O_CREAT|O_EXCL|O_NOFOLLOW, so no other user can open one while it is written (the
default umask would leave a 0644 window) and a symlink planted at its name is not
followed. Replacing one writes a fresh private file beside it and renames it over."""
import os
from pathlib import Path

FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _create(path, data):
    fd = os.open(path, FLAGS, 0o600)
    try:
        os.fchmod(fd, 0o600)  # exactly 0600 whatever the umask
        with os.fdopen(fd, "wb", closefd=False) as f:
            f.write(data)
            f.flush()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def write(path, data, replace=False):
    """Write `data` to a new private file at `path`. An existing file (or symlink) there
    raises FileExistsError unless `replace`, which swaps it atomically for the new one."""
    path = Path(path)
    if not replace:
        _create(path, data)
        return
    tmp = path.with_name(".%s.%d.tmp" % (path.name, os.getpid()))
    _create(tmp, data)
    try:
        os.replace(tmp, path)  # renames over a symlink itself, never through it
    except BaseException:
        os.unlink(tmp)
        raise
