"""The AR daemon's heap on a small port, under the MicroPython unix port with `-X heapsize`
(a board gives Python about 110 KB). The daemon (main.Daemon, as on a board, over a fake
link) starts from an RSA-2048 bundle whose sealed key store holds 255 keys, and serves one
RSA-2048 RtSolPr: the store is then full (256 keys).

Figures, each the median of 3 (random keys, nonces and blinding move them by a few KB):
- code: the heap in use once the daemon's modules are imported as .mpy files;
- the smallest heap at which the imports alone complete, and at which the whole run does
  (to 256 octets, fragmentation included);
- data: the second minus the first, the heap the keys and the exchange need beyond what the
  code needs. The smallest heap minus the code is not it: loading .mpy files leaves holes
  (the imports alone need ~50 KB more heap than they keep), which that difference counts
  as data even when there is none (`micropython_smallest_heap_minus_code_no_data`);
- the data in use once the exchange is answered, and the key store's table alone.

Frozen code is estimated here, not measured (no ESP32 image is built): its flash is the .mpy
bytecode total `fmipkey build` reports (the image holds the same bytecode); its heap is the
.mpy import heap minus the bytes of the .mpy files imported (a loaded .mpy's bytecode and
constants sit in the heap, a frozen module's in flash), an upper bound. Run on a MicroPython
with fmipkey frozen in (FMIPKEY_MICROPYTHON, docs/esp32-heap.md), the code figure is the
frozen heap measured. Prints one JSON object."""
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests/fw"))
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT / "tools"))

import arfix  # noqa: E402
import daemonfix  # noqa: E402
from bench_ar import compile_mpy, mp, smallest_heap  # noqa: E402
from fmipkey.keystore import KeyStore  # noqa: E402
from fmipkey_tools import build  # noqa: E402

KEYS = 256
DATA_TARGET = 64 * 1024
MN_MAC = b"\x02\x00\x00\x00\x00\x42"
# The modules an AR daemon imports (main's loader imports ar and keystore; the link driver
# is left out: net/linux.py on a router, net/esp32.py with its C module on a board).
DAEMON = ("fmipkey.main", "fmipkey.ar", "fmipkey.keystore")

MP_RUN = """
import gc, os, sys
B = %r
with open(B + "/keystore.full", "rb") as src, open(B + "/keystore.bin", "wb") as dst:
    while True:                   # each run starts from the same 255 keys
        chunk = src.read(256)
        if not chunk:
            break
        dst.write(chunk)
del src, dst, chunk
gc.collect()
h0 = gc.mem_alloc()
%s
gc.collect()
code = gc.mem_alloc() - h0
mods = [m.__file__ for n, m in sys.modules.items() if n.startswith("fmipkey") and hasattr(m, "__file__")]
mpy = sum(os.stat(f)[6] for f in mods if f.endswith(".mpy"))   # a frozen module has no file
import daemonfix                  # the test fixtures: not firmware, measured apart
gc.collect()
fixtures = gc.mem_alloc() - h0 - code
if int(sys.argv[1]):
    with open(B + "/rtsolpr", "rb") as f:
        pkt = f.read()
    d = fmipkey.main.Daemon({"bundle": B, "export": False}, daemonfix.FakeLink(B + "/keystore.bin", [(pkt, %r)]))
    assert len(d.ks) == %d - 1, len(d.ks)
    del pkt, f
    d.handle_batch()
    assert len(d.link.sent) == 1 and d.engine.counters["keys.issued"] == 1 and len(d.ks) == %d, d.engine.counters
gc.collect()
print("RESULT", code, fixtures, gc.mem_alloc() - h0, len(mods), mpy)
"""


def bundle(d):
    """An RSA-2048 AR bundle in d/ar with KEYS - 1 keys sealed in keystore.full, and a fresh
    signed RSA-2048 RtSolPr to it (SEND timestamps are checked: made now, used within a minute)."""
    b = daemonfix.bundle("rsa2048_a.pem", os.path.join(d, "ar"), keystore_max=KEYS)
    ks = KeyStore(bytes(range(32)), KEYS)
    now = int(time.time())
    for i in range(KEYS - 1):
        ks.issue(bytes(8) + i.to_bytes(8, "big"), 1, now)
    ks.save(b + "/keystore.full")
    ar = arfix.Node("rsa2048_a.pem", bytes(16))
    mn = arfix.Node("rsa2048_b.pem")
    with open(b + "/rtsolpr", "wb") as f:
        f.write(arfix.rtsolpr(mn, ar.addr, arfix.key("rsa2048_a.pem").public, at=1, now=time.time()))
    return b


def median3(f):
    return sorted(f() for _ in range(3))[1]


def main():
    out = {"unit": "bytes of MicroPython heap (unix port, -X heapsize); frozen figures estimated, see the docstring"}
    with tempfile.TemporaryDirectory() as d:
        compile_mpy(d)
        script = MP_RUN % (bundle(d), "\n".join("import " + m for m in DAEMON), MN_MAC, KEYS, KEYS)
        code, fixtures, _, modules, mpy_bytes = mp(script, d, (0,), heap=4 * 1024 * 1024)
        idle = median3(lambda: smallest_heap(script, d, 0, hi=1024 * 1024))     # imports alone
        need = median3(lambda: smallest_heap(script, d, 1, hi=1024 * 1024))     # and 256 keys, one RSA-2048 exchange
        in_use = mp(script, d, (1,), heap=4 * 1024 * 1024)[2]
        store = mp(MP_STORE % KEYS, d, (), heap=4 * 1024 * 1024)[0]
        report = build.build(Path(d) / "fw")
    out["micropython_heap_after_imports_mpy"] = int(code)
    out["micropython_smallest_heap_imports"] = idle
    out["micropython_smallest_heap_256_keys_rsa2048_exchange"] = need
    out["micropython_data_heap_256_keys_rsa2048_exchange"] = need - idle
    out["micropython_smallest_heap_minus_code_no_data"] = idle - int(code) - int(fixtures)
    out["micropython_smallest_heap_minus_code_256_keys_rsa2048_exchange"] = need - int(code) - int(fixtures)
    out["micropython_data_in_use_after"] = int(in_use - code - fixtures)
    out["micropython_fixture_code_excluded"] = int(fixtures)
    out["micropython_keystore_256_keys"] = int(store)
    out["mpy_bytes_of_the_modules_imported"] = int(mpy_bytes)
    out["modules_imported"] = int(modules)
    out["frozen_flash_estimate_all_modules"] = sum(r[2] for r in report)
    out["frozen_heap_after_imports_estimate"] = int(code - mpy_bytes)
    out["targets"] = {"micropython_data_heap_256_keys_rsa2048_exchange": "<= %d" % DATA_TARGET,
                      "micropython_keystore_256_keys": "<= %d (64 per key)" % (64 * KEYS)}
    out["met"] = {"micropython_data_heap_256_keys_rsa2048_exchange":
                  out["micropython_data_heap_256_keys_rsa2048_exchange"] <= DATA_TARGET,
                  "micropython_keystore_256_keys": store <= 64 * KEYS}
    json.dump(out, sys.stdout)
    print()


MP_STORE = """
import gc
from fmipkey.keystore import KeyStore
gc.collect()
h0 = gc.mem_alloc()
ks = KeyStore(bytes(32), %d)
for i in range(ks.max_entries):
    ks.issue(bytes(8) + i.to_bytes(8, "big"), 1, 1700000000)
gc.collect()
print("RESULT", gc.mem_alloc() - h0)
"""

if __name__ == "__main__":
    main()
