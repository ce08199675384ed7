# The dual-interpreter harness itself: the same file must report its interpreter truthfully.
import sys

import fwtest


def test_interpreter_is_known():
    assert sys.implementation.name in ("cpython", "micropython")


def test_fixture_keys_readable():
    pem = fwtest.data("rsa1024_a.pem", "r")
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_raises_helper_catches():
    e = fwtest.raises(KeyError, {}.__getitem__, "x")
    assert isinstance(e, KeyError)
