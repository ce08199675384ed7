"""What an attacker's packet costs the device, before and after the issue 13 fixes, under
MicroPython and CPython on our firmware code, with OpenSSL (via `cryptography`) in the
same run as the native reference. Prints one JSON object (median milliseconds).

forged_cpa: the issue's certificate path (host_tests/fw/forge.py): an intermediate naming
the trust anchor as its issuer with a 6,016-bit modulus and a 3,008-bit exponent, and a
junk leaf with a 752-octet signature. `before` is the one operation the former leaf-first
validation ran on it, the leaf's signature checked with the forged key (rsa.verify_digest,
the same call); `after` is x509.validate_path now, which refuses the key unused. A normal
RSA-1024 verification and a genuine path's validation give the scale.

hkepk: a signed RtSolPr from a Sec 0 CGA (RSA-1024) whose HKEPK has the CGA key's size and a
7,200-bit exponent. `before` is the encryption of a handover key under it that the AR used to
do (rsa.encrypt, the same call); `after` is the AR's whole answer now (ar.handle: refused
before any RSA but the PrRtAdv's signature); a normal encryption and a normal exchange give
the scale."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa as crsa

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "host_tests" / "fw" / "data"
sys.path[:0] = [str(ROOT / "firmware"), str(ROOT / "host_tests" / "fw")]

import forge  # noqa: E402
from fmipkey.crypto import der, x509  # noqa: E402
from timing import median_ms  # noqa: E402

NOW = 1893456000   # inside the fixtures' validity

# Runs under both interpreters, in the folder holding the DER files; prints one JSON object.
WORKER = r"""
import json
import arfix
from dualclock import median
from fmipkey.clock import at
from fmipkey.crypto import backend, der, rsa, x509
from fmipkey.errors import VerifyError

def median_ms(fn, n):
    return median(fn, n) / 1000

def read(name):
    with open(name, "rb") as f:
        return f.read()

def refused(fn, *args):
    try:
        fn(*args)
    except VerifyError:
        return
    raise AssertionError("not refused")

root, ca, router = x509.parse(read("root.der")), read("ca.der"), read("router.der")
evil_ca, evil_leaf = read("evil_ca.der"), read("evil_leaf.der")
leaf = x509.parse(evil_leaf)
forged_key = x509.parse(evil_ca).public_key
digest = backend.hasher("sha256")(leaf.tbs).digest()
k = der.parse_private_key(der.pem_decode(read("rsa1024_a.pem").decode())[0][1])
sig = rsa.sign(k, b"m")

# hkepk: the AR answers fresh copies of one request (arfix.distinct_rtsolprs, limits opened: the cost, not the limit)
mn = arfix.Node("rsa1024_b.pem")
bad_hkepk = rsa.PublicKey(arfix.key("rsa1024_pkcs8.pem").n, (1 << 7199) | 1)
attack = arfix.distinct_rtsolprs(mn, arfix.ALL_ROUTERS, bad_hkepk)
normal = arfix.distinct_rtsolprs(mn, arfix.ALL_ROUTERS, arfix.key("rsa1024_pkcs8.pem").public)

def answer(pkts, counter):
    ar = arfix.make_ar(**arfix.OPEN)
    def one():
        n = ar.counters.get(counter, 0)
        ar.keystore.discard(mn.addr)
        assert len(ar.handle(pkts[n %% len(pkts)], at(arfix.NOW))) == 1 and ar.counters[counter] == n + 1, ar.counters
    return one

print(json.dumps({
    "hkepk_before_ms": median_ms(lambda: rsa.encrypt(bad_hkepk, bytes(20)), 5),
    "rsa1024_encrypt_ms": median_ms(lambda: rsa.encrypt(k.public, bytes(20)), 20),
    "hkepk_after_ms": median_ms(answer(attack, "keys.refused.hkepk_exponent"), 10),
    "ar_normal_exchange_ms": median_ms(answer(normal, "keys.issued"), 10),
    "forged_cpa_before_ms": median_ms(lambda: rsa.verify_digest(forged_key, digest, leaf.signature, "sha256"), 3),
    "forged_cpa_after_ms": median_ms(lambda: refused(x509.validate_path, [evil_leaf, evil_ca], [root], %d), 20),
    "genuine_path_ms": median_ms(lambda: x509.validate_path([router, ca], [root], %d), 10),
    "rsa1024_verify_ms": median_ms(lambda: rsa.verify(k.public, b"m", sig), 20),
}))
""" % (NOW, NOW)


def forged_path():
    root = x509.parse((DATA / "cert_root.der").read_bytes())
    key = der.parse_private_key(der.pem_decode((DATA / "rsa1024_a.pem").read_text())[0][1])
    ca = forge.cert("Evil CA", root.subject, forge.big_key(6016, (1 << 3007) | 1), ca=True, sig_len=64)
    leaf = forge.cert("evil-router", forge.name("Evil CA"), key.public, sig_len=752)
    return ca, leaf


def run(cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def openssl_figures(d):
    # The native reference: one certificate signature checked with the anchor's key (what the
    # forged path costs now), and the same check of the junk leaf with the forged key (OpenSSL
    # caps the exponent at 64 bits above 3,072-bit moduli, so it refuses without the pow).
    root = cx509.load_der_x509_certificate((d / "root.der").read_bytes())
    ca = cx509.load_der_x509_certificate((d / "ca.der").read_bytes())
    n = cx509.load_der_x509_certificate((d / "evil_ca.der").read_bytes()).public_key().public_numbers()
    leaf = cx509.load_der_x509_certificate((d / "evil_leaf.der").read_bytes())
    forged = crsa.RSAPublicNumbers(n.e, n.n).public_key()

    def forged_check():
        try:
            forged.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(), leaf.signature_hash_algorithm)
        except InvalidSignature:
            pass
    return {"openssl_cert_signature_check_ms": median_ms(lambda: ca.verify_directly_issued_by(root), 50),
            "openssl_forged_key_check_ms": median_ms(forged_check, 5)}


def main():
    ca, leaf = forged_path()
    out = {"unit": "ms, median", "forged_cpa_octets": [len(ca), len(leaf)]}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name in ("root", "ca", "router"):
            (d / (name + ".der")).write_bytes((DATA / ("cert_%s.der" % name)).read_bytes())
        (d / "rsa1024_a.pem").write_bytes((DATA / "rsa1024_a.pem").read_bytes())
        (d / "evil_ca.der").write_bytes(ca)
        (d / "evil_leaf.der").write_bytes(leaf)
        (d / "worker.py").write_text(WORKER)
        path = "%s:%s:%s" % (ROOT / "firmware", ROOT / "bench", ROOT / "host_tests" / "fw")
        for interp, cmd, env in (
                ("micropython", [str(ROOT / ".venv/bin/micropython"), "worker.py"], dict(os.environ, MICROPYPATH=path)),
                ("cpython", [sys.executable, "worker.py"], dict(os.environ, PYTHONPATH=path))):
            for k, v in run(cmd, tmp, env).items():
                out["%s_%s" % (interp, k)] = v
            b, a = out[interp + "_forged_cpa_before_ms"], out[interp + "_forged_cpa_after_ms"]
            out[interp + "_forged_cpa_before_in_rsa1024_verifies"] = round(b / out[interp + "_rsa1024_verify_ms"])
            out[interp + "_forged_cpa_after_in_rsa1024_verifies"] = round(a / out[interp + "_rsa1024_verify_ms"], 2)
            for what in ("hkepk_before", "hkepk_after"):
                out["%s_%s_in_normal_exchanges" % (interp, what)] = round(
                    out["%s_%s_ms" % (interp, what)] / out[interp + "_ar_normal_exchange_ms"], 2)
        out.update(openssl_figures(d))
    out["issue"] = {"micropython_forged_cpa_before_ms": 1900, "forged_cpa_before_in_rsa1024_verifies": 3100,
                    "hkepk_before_in_normal_exchanges": 16}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
