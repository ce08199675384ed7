# The few names that differ between MicroPython and CPython.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x
