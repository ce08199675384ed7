"""RSA-1024/2048 sign, verify, encrypt, decrypt: our firmware code under
MicroPython and CPython, OpenSSL (`cryptography`) in the same run; and on
MicroPython the ratio of our private-key operation to a bare CRT pow on the
same key (target <= 1.15). Prints one JSON object (median microseconds)."""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "host_tests" / "fw" / "data"
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
KEYS = {"rsa1024": "rsa1024_a.pem", "rsa2048": "rsa2048_a.pem"}

# Runs under both interpreters: prints one JSON object of medians in microseconds.
WORKER = r"""
import gc, json, sys
from dualclock import diff, med, median, ticks
from fmipkey.crypto import der, rsa

def bare_crt(k, c):
    m1 = pow(c % k.p, k.dp, k.p)
    m2 = pow(c % k.q, k.dq, k.q)
    return m2 + k.q * (k.qinv * (m1 - m2) % k.p)

def paired(ours, x, k, n):
    # Alternate our operation and a bare CRT pow on the same input: the ratio of
    # each pair cancels out the load of a shared machine.
    t, r = [], []
    for _ in range(n):
        gc.collect()
        t0 = ticks()
        ours()
        t1 = ticks()
        bare_crt(k, x)
        t2 = ticks()
        t.append(diff(t1, t0))
        r.append(diff(t1, t0) / diff(t2, t1))
    return med(t), round(med(r), 3)

out = {}
for label, path in json.loads(sys.argv[1]).items():
    with open(path) as f:
        k = der.parse_private_key(der.pem_decode(f.read())[0][1])
    n = int(sys.argv[2])
    msg = b"SEND signed data"
    sig = rsa.sign(k, msg)
    ct = rsa.encrypt(k.public, b"\x01" * 20)
    m = pow(int.from_bytes(sig, "big"), k.e, k.n)  # the encoded block the signature signs
    r = {}
    r["sign"], r["sign_over_bare_crt"] = paired(lambda: rsa.sign(k, msg), m, k, n)
    r["decrypt"], r["decrypt_over_bare_crt"] = paired(lambda: rsa.decrypt(k, ct), int.from_bytes(ct, "big"), k, n)
    r["verify"] = median(lambda: rsa.verify(k.public, msg, sig), n * 4)
    r["encrypt"] = median(lambda: rsa.encrypt(k.public, b"\x01" * 20), n * 4)
    out[label] = r
print(json.dumps(out))
"""


def run_worker(cmd, reps):
    path = "%s:%s" % (ROOT / "firmware", ROOT / "bench")
    env = dict(os.environ, MICROPYPATH=path, PYTHONPATH=path)
    keys = json.dumps({label: str(DATA / f) for label, f in KEYS.items()})
    proc = subprocess.run(cmd + ["-c", WORKER, keys, str(reps)], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(proc.stdout)


def openssl(reps):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def median(fn, n):
        t = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            t.append((time.perf_counter_ns() - t0) / 1000)
        return round(statistics.median(t), 1)

    out = {}
    for label, f in KEYS.items():
        k = serialization.load_pem_private_key((DATA / f).read_bytes(), None)
        pub, msg, pad = k.public_key(), b"SEND signed data", padding.PKCS1v15()
        sig = k.sign(msg, pad, hashes.SHA1())
        ct = pub.encrypt(b"\x01" * 20, pad)
        out[label] = {
            "sign": median(lambda: k.sign(msg, pad, hashes.SHA1()), reps),
            "verify": median(lambda: pub.verify(sig, msg, pad, hashes.SHA1()), reps),
            "encrypt": median(lambda: pub.encrypt(b"\x01" * 20, pad), reps),
            "decrypt": median(lambda: k.decrypt(ct, pad), reps),
        }
    return out


def main():
    result = {
        "unit": "median microseconds, SHA-1 signatures, 20-octet plaintext",
        "micropython": run_worker([str(MICROPYTHON)], 41),
        "cpython": run_worker([sys.executable], 31),
        "openssl": openssl(201),
    }
    result["micropython_private_op_over_bare_crt_target"] = 1.15
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
