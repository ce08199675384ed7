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
