# Helpers for firmware tests; runs under CPython and MicroPython alike.
DATA = __file__.rsplit("/", 1)[0] + "/data/"


def data(name, mode="rb"):
    with open(DATA + name, mode) as f:
        return f.read()


def raises(exc, fn, *args):
    """Call fn(*args); return the exception if it is an `exc`, fail otherwise."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc.__name__))


def logged(events):
    """An engine's events as the daemon logs them: [(name, text)]."""
    from fmipkey import config
    return [(e.name, e.describe(config.format_addr)) for e in events]


class Skipped(Exception):
    """A test that does not apply to this interpreter (_mprun reports it as skipped)."""


def skip(reason):
    """Skip the calling test, saying why: pytest's skip on CPython, Skipped on MicroPython."""
    try:
        import pytest
    except ImportError:
        raise Skipped(reason)
    pytest.skip(reason)
