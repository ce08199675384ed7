# identity.load: a bundle's key, CGA parameters and address, and the refusals that protect a deployment.
import hashlib
import os

import fwtest
from fmipkey import identity
from fmipkey.crypto import cga, der
from fmipkey.errors import ConfigError

PREFIX = b"\x20\x01\x0d\xb8\x00\x01\x00\x00"


def _bundle(key_pem, params):
    d = "/tmp/fmipkey-identity-%s" % "".join("%02x" % b for b in os.urandom(4))
    os.mkdir(d)
    for name, data in (("key.pem", key_pem), ("cga.der", params)):
        with open(d + "/" + name, "wb") as f:
            f.write(data)
    return d


def _cleanup(d):
    for name in os.listdir(d):
        os.remove(d + "/" + name)
    os.rmdir(d)


def _cfg(sec=0):
    return {"key_file": "key.pem", "cga_file": "cga.der", "cga_sec": sec}


def _params(pem):
    key = der.parse_private_key(der.pem_decode(pem)[0][1])
    return cga.encode(os.urandom(16), PREFIX, 0, der.encode_spki(key.public))


def test_load_gives_the_rfc3972_address():
    pem = fwtest.data("rsa1024_a.pem")
    params = _params(pem)
    d = _bundle(pem, params)
    try:
        me = identity.load(d, _cfg())
    finally:
        _cleanup(d)
    # RFC 3972 step 5-6 written out here: Hash1 with Sec 0 and the u/g bits cleared.
    h = hashlib.sha1(params).digest()
    assert me.addr == PREFIX + bytes((h[0] & 0x1C,)) + h[1:8]
    assert me.cga_params == params
    assert me.key.size == 128


def test_params_of_another_key_are_refused():
    d = _bundle(fwtest.data("rsa1024_a.pem"), _params(fwtest.data("rsa1024_b.pem")))
    try:
        e = fwtest.raises(ConfigError, identity.load, d, _cfg())
    finally:
        _cleanup(d)
    assert "another key" in e.args[0]


def test_wrong_sec_is_refused():
    # A random modifier meets Sec 1 with probability 2^-16: the check must fail.
    pem = fwtest.data("rsa1024_a.pem")
    d = _bundle(pem, _params(pem))
    try:
        e = fwtest.raises(ConfigError, identity.load, d, _cfg(1))
    finally:
        _cleanup(d)
    assert "cga.der" in e.args[0]


def test_missing_file_says_how_to_fix():
    e = fwtest.raises(ConfigError, identity.load, "/nonexistent-bundle", _cfg())
    assert "key.pem" in e.args[0] and "fmipkey provision" in e.args[0]


def test_certificates_reads_a_pem_chain():
    d = _bundle(fwtest.data("rsa1024_a.pem"), b"")
    try:
        keys = identity.private_keys(d, "key.pem")
        e = fwtest.raises(ConfigError, identity.certificates, d, "key.pem")
    finally:
        _cleanup(d)
    assert len(keys) == 1 and keys[0].size == 128
    assert "CERTIFICATE" in e.args[0]
