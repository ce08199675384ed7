"""SEND verification of a signed RtSolPr (parse + CGA + RSA signature): MicroPython and
CPython running our firmware code, and OpenSSL (via `cryptography`) verifying the same
signature in the same run. Prints one JSON object."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware"))

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

from fmipkey import send  # noqa: E402
from fmipkey.clock import at  # noqa: E402
from timing import median_ms  # noqa: E402
from fmipkey.crypto import cga, der  # noqa: E402
from fmipkey.wire import fmip, icmp6, ndopt  # noqa: E402

AR = bytes.fromhex("fe800000000000000000000000000001")
NOW = 1700000000
RUNS = 50

MP_SCRIPT = """
import gc, time, micropython
from fmipkey import send
from fmipkey.clock import at
from fmipkey.wire import fmip
AR = bytes.fromhex("%s")
out = []
for line in open("%s"):
    src, msg = [bytes.fromhex(x) for x in line.split()]
    def one():
        return send.verify(fmip.parse(msg), src, AR, at(%d), None, None, None, True, 1024, 2048)
    one()
    t = []
    for i in range(%d):
        t0 = time.ticks_us()
        one()
        t.append(time.ticks_diff(time.ticks_us(), t0))
    t.sort()
    gc.collect()
    gc.disable()          # with no collection, what one verify allocates bounds its peak growth
    a = gc.mem_alloc()
    one()
    grow = gc.mem_alloc() - a
    gc.enable()
    print(t[len(t) // 2] / 1000, grow)
"""


def signed_rtsolpr(pem):
    priv = der.parse_private_key(der.pem_decode((ROOT / "host_tests/fw/data" / pem).read_text())[0][1])
    spki = der.encode_spki(priv.public)
    params = cga.encode(bytes(16), bytes.fromhex("fe80000000000000"), 0, spki)
    src = cga.address(params, 0)
    body = fmip.RtSolPr.emit(1, ndopt.fmip_lla(1, b"\x00\x11\x22\x33\x44\x55") + ndopt.hk_request(0, spki))
    return src, bytes(send.message(src, AR, body, priv, cga_params=params, now=at(NOW), nonce=b"abcdef")), spki



def openssl_verify(src, msg, spki):
    m = fmip.parse(msg)
    kh, field = ndopt.parse_rsa_sig(m.raw, m.sig, m.opts[-1][2])
    pub = serialization.load_der_public_key(spki)
    size = pub.key_size // 8
    sig = bytes(field[:size])
    # signed data per RFC 3971 5.2 with the checksum of the unsigned message (docs/interop.md)
    cut = bytearray(msg[:m.sig])
    icmp6.set_checksum(cut, src, AR)
    signed = send.TAG + src + AR + bytes(cut)
    return lambda: pub.verify(sig, signed, padding.PKCS1v15(), hashes.SHA1())


def main():
    cases = {"rsa1024": signed_rtsolpr("rsa1024_a.pem"), "rsa2048": signed_rtsolpr("rsa2048_a.pem")}
    out = {"unit": "ms median of %d, heap in bytes" % RUNS}
    for name, (src, msg, spki) in cases.items():
        out["cpython_verify_%s_ms" % name] = median_ms(
            lambda: send.verify(fmip.parse(msg), src, AR, at(NOW), solicitation=True), RUNS)
        out["openssl_verify_%s_ms" % name] = median_ms(openssl_verify(src, msg, spki), RUNS)
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "msgs")
        with open(f, "w") as fh:
            for name, (src, msg, spki) in cases.items():
                fh.write("%s %s\n" % (src.hex(), msg.hex()))
        script = os.path.join(d, "mp.py")
        with open(script, "w") as fh:
            fh.write(MP_SCRIPT % (AR.hex(), f, NOW, RUNS))
        proc = subprocess.run([str(ROOT / ".venv/bin/micropython"), script], capture_output=True, text=True,
                              env=dict(os.environ, MICROPYPATH=str(ROOT / "firmware")), check=True)
    lines = [l.split() for l in proc.stdout.splitlines() if l and l[0].isdigit()]
    for name, (ms, grow) in zip(cases, lines):
        out["micropython_verify_%s_ms" % name] = float(ms)
        out["micropython_verify_%s_heap_growth" % name] = int(grow)
    out["targets"] = {"micropython_verify_rsa1024_ms": 5, "micropython_verify_rsa2048_heap_growth": 32768}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
