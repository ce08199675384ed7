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


def fresh_import(name, stand_ins=()):
    """Module `name` imported anew while sys.modules holds `stand_ins` [(module name,
    stand-in)]; the real modules (and the package attribute) are put back afterwards."""
    import sys
    __import__(name)
    old = sys.modules[name]
    saved = [(k, sys.modules.get(k)) for k, _ in stand_ins]
    for k, m in stand_ins:
        sys.modules[k] = m
    del sys.modules[name]
    try:
        __import__(name)
        return sys.modules[name]
    finally:
        sys.modules[name] = old
        pkg, _, leaf = name.rpartition(".")
        setattr(sys.modules[pkg], leaf, old)
        for k, m in saved:
            if m is None:
                del sys.modules[k]   # MicroPython keeps built-in modules out of sys.modules
            else:
                sys.modules[k] = m


def now_at(t):
    """The engines' `now` (clock.Now) at Unix time t, in seconds."""
    from fmipkey.clock import at
    return at(t)
