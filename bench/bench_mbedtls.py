"""The AR's private operation (rsa.sign: blinded CRT, checked with the public key) with
modexp from mbedTLS against MicroPython's pow, and OpenSSL, RSA-1024 and RSA-2048, one run.
Target: >= 10x faster than MicroPython pow.

The unix port here has no ffi, so mbedTLS is reached the only way CI can: the firmware's
binding (crypto/mbedtls.py) over the real libmbedcrypto through host_tests/ffi_ctypes.py,
under CPython. Two figures come from that:
- cpython_mbedtls: the whole sign under CPython (its glue code is faster than MicroPython's);
- micropython_mbedtls_estimate: what a router's MicroPython with ffi would take, the sum of
  the glue measured under MicroPython (every modexp answered from a table, so only hashing,
  padding, blinding and CRT arithmetic run) and the time spent inside mbedTLS modexp calls
  under CPython (ctypes' call overhead included, so it errs high).
The speedup target is judged on the estimate. Prints one JSON object (median microseconds)."""
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
ROUNDS = 5

# Runs under both interpreters. argv: keys (JSON), reps, mode: pow | mbedtls | glue.
WORKER = r"""
import gc, json, sys, time
from fmipkey.crypto import backend, der, rsa
try:
    ticks, diff = time.ticks_us, time.ticks_diff
except AttributeError:
    ticks, diff = (lambda: time.perf_counter_ns() // 1000), (lambda a, b: a - b)
mode, n = sys.argv[3], int(sys.argv[2])
if mode == "mbedtls":
    import ffi_ctypes
    sys.modules["ffi"] = ffi_ctypes
    backend.use_modexp(["mbedtls"])
inner = backend.powmod
spent = [0]

def timed(b, e, m):
    t0 = ticks()
    r = inner(b, e, m)
    spent[0] += diff(ticks(), t0)
    return r

memo = {}

def table(b, e, m):
    if (b, e, m) not in memo:
        memo[(b, e, m)] = inner(b, e, m)
    return memo[(b, e, m)]

backend.powmod = table if mode == "glue" else timed
out = {}
for label, path in json.loads(sys.argv[1]).items():
    with open(path) as f:
        k = der.parse_private_key(der.pem_decode(f.read())[0][1])
    msg = b"SEND signed data"
    rsa.sign(k, msg)          # the key's first use makes its blinding pair
    pair = k.blinding
    total, inside = [], []
    for _ in range(n + 1):    # the first, which fills the table in glue mode, is not counted
        k.blinding = pair     # the same inputs each time (glue mode looks them up)
        gc.collect()
        spent[0] = 0
        t0 = ticks()
        rsa.sign(k, msg)
        total.append(diff(ticks(), t0))
        inside.append(spent[0])
    total, inside = sorted(total[1:]), sorted(inside[1:])
    out[label] = {"sign": total[n // 2], "in_modexp": inside[n // 2]}
out["modexp"] = backend.modexp
print(json.dumps(out))
"""


def worker(cmd, reps, mode):
    env = dict(os.environ, MICROPYPATH=str(ROOT / "firmware"),
               PYTHONPATH="%s:%s" % (ROOT / "firmware", ROOT / "host_tests"))
    keys = json.dumps({label: str(DATA / f) for label, f in KEYS.items()})
    proc = subprocess.run(cmd + ["-c", WORKER, keys, str(reps), mode], capture_output=True, text=True, env=env,
                          check=True)
    return json.loads(proc.stdout)


def openssl(reps):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    out = {}
    for label, f in KEYS.items():
        k = serialization.load_pem_private_key((DATA / f).read_bytes(), None)
        t = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            k.sign(b"SEND signed data", padding.PKCS1v15(), hashes.SHA1())
            t.append((time.perf_counter_ns() - t0) / 1000)
        out[label] = {"sign": round(statistics.median(t), 1)}
    return out


def main():
    # Rounds alternate the interpreters, and each figure is the median over rounds: on a
    # shared machine the load changes between processes, and a ratio of two figures taken
    # minutes apart would carry it.
    rounds = [(worker([str(MICROPYTHON)], 9, "pow"), worker([str(MICROPYTHON)], 9, "glue"),
               worker([sys.executable], 21, "mbedtls"), worker([sys.executable], 9, "pow")) for _ in range(ROUNDS)]
    result = {"unit": "median microseconds per RSA-SHA1 signature (rsa.sign: blinded CRT + public-key check), "
                      "median over %d rounds" % ROUNDS,
              "mbedtls_backend": rounds[0][2]["modexp"], "target_speedup_over_micropython_pow": 10}
    ssl = openssl(201)

    def med(values):
        return round(statistics.median(values), 1)
    for label in KEYS:
        fig = {"micropython_pow": [], "micropython_glue": [], "cpython_mbedtls": [], "mbedtls_in_modexp": [],
               "micropython_mbedtls_estimate": [], "cpython_pow": [], "speedup_estimate_over_micropython_pow": [],
               "speedup_cpython_mbedtls_over_micropython_pow": []}
        for mp_pow, mp_glue, cpy_mbed, cpy_pow in rounds:
            estimate = mp_glue[label]["sign"] + cpy_mbed[label]["in_modexp"]
            for k, v in (("micropython_pow", mp_pow[label]["sign"]), ("micropython_glue", mp_glue[label]["sign"]),
                         ("cpython_mbedtls", cpy_mbed[label]["sign"]),
                         ("mbedtls_in_modexp", cpy_mbed[label]["in_modexp"]),
                         ("micropython_mbedtls_estimate", estimate), ("cpython_pow", cpy_pow[label]["sign"]),
                         ("speedup_estimate_over_micropython_pow", mp_pow[label]["sign"] / estimate),
                         ("speedup_cpython_mbedtls_over_micropython_pow",
                          mp_pow[label]["sign"] / cpy_mbed[label]["sign"])):
                fig[k].append(v)
        result[label] = {k: med(v) for k, v in fig.items()}
        result[label]["openssl"] = ssl[label]["sign"]
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
