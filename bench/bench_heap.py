"""The AR's heap on a small port, under the MicroPython unix port with `-X heapsize` (a board
gives Python about 110 KB): code (the heap in use once the daemon's modules are imported, as
.mpy files) apart from data (what a key store of 256 keys plus one RSA-2048 exchange needs on
top: the smallest heap at which it completes, fragmentation included, minus the code), the
key store's own table, and the code size frozen into an ESP32 image.

Frozen code is estimated, not measured (no ESP32 image is built here): its flash is the .mpy
bytecode total `fmipkey build` reports (the image holds the same bytecode); its heap is the
.mpy import heap minus the bytes of the .mpy files imported (a loaded .mpy's bytecode and
constants sit in the heap, a frozen module's in flash), which leaves the module, function and
class objects a frozen import still makes. Prints one JSON object."""
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "host_tests/fw"))
sys.path.insert(0, str(ROOT / "firmware"))
sys.path.insert(0, str(ROOT / "tools"))

import arfix  # noqa: E402
from bench_ar import compile_mpy, mp, smallest_heap  # noqa: E402
from fmipkey_tools import build  # noqa: E402

KEYS = 256
DATA_TARGET = 64 * 1024
# The modules an AR daemon imports (main's loader imports ar and keystore; the link driver
# is left out: net/linux.py on a router, net/esp32.py with its C module on a board).
DAEMON = ("fmipkey.main", "fmipkey.ar", "fmipkey.keystore")

MP_RUN = """
import gc, os, sys
gc.collect()
h0 = gc.mem_alloc()
%s
gc.collect()
code = gc.mem_alloc() - h0
mods = [m.__file__ for n, m in sys.modules.items() if n.startswith("fmipkey") and hasattr(m, "__file__")]
mpy = sum(os.stat(f)[6] for f in mods)
import arfix                      # the test fixtures: not firmware, measured apart
from fmipkey.clock import at
gc.collect()
fixtures = gc.mem_alloc() - h0 - code
if int(sys.argv[1]):
    ar = arfix.make_ar(ar_key="rsa2048_a.pem", keystore_max=%d, max_prrtadv_rate=100000)
    for i in range(%d - 1):       # the store full but for the exchange's own key
        ar.keystore.issue(bytes(8) + i.to_bytes(8, "big"), 1, arfix.NOW)
    pkt = bytes.fromhex(open("%s").read())
    out = ar.handle(pkt, at(arfix.NOW))
    assert len(out) == 1 and ar.counters["keys.issued"] == 1 and len(ar.keystore) == %d, ar.counters
gc.collect()
print("RESULT", code, fixtures, gc.mem_alloc() - h0, len(mods), mpy)
"""


def main():
    out = {"unit": "bytes of MicroPython heap (unix port, -X heapsize); frozen figures estimated, see the docstring"}
    with tempfile.TemporaryDirectory() as d:
        compile_mpy(d)
        mn = arfix.Node("rsa2048_b.pem")
        ar = arfix.make_ar(ar_key="rsa2048_a.pem")
        pkt = arfix.rtsolpr(mn, ar.addr, arfix.key("rsa2048_a.pem").public, at=1)
        f = os.path.join(d, "pkt")
        with open(f, "w") as fh:
            fh.write(pkt.hex())
        script = MP_RUN % ("\n".join("import " + m for m in DAEMON), KEYS, KEYS, f, KEYS)
        code, fixtures, _, modules, mpy_bytes = mp(script, d, (0,), heap=4 * 1024 * 1024)
        # medians of 3: random keys, nonces and blinding move the figure by a few KB
        idle = sorted(smallest_heap(script, d, 0, hi=1024 * 1024) for _ in range(3))[1]     # imports alone
        need = sorted(smallest_heap(script, d, 1, hi=1024 * 1024) for _ in range(3))[1]     # and 256 keys, one RSA-2048 exchange
        in_use = mp(script, d, (1,), heap=4 * 1024 * 1024)[2]
        store = mp(MP_STORE % KEYS, d, (), heap=4 * 1024 * 1024)[0]
        report = build.build(Path(d) / "fw")
    out["micropython_heap_after_imports_mpy"] = int(code)
    out["micropython_smallest_heap_imports"] = idle
    out["micropython_smallest_heap_256_keys_rsa2048_exchange"] = need
    out["micropython_data_peak_256_keys_rsa2048_exchange"] = need - int(code) - int(fixtures)
    out["micropython_data_in_use_after"] = int(in_use - code - fixtures)
    out["micropython_fixture_code_excluded"] = int(fixtures)
    out["micropython_keystore_256_keys"] = int(store)
    out["mpy_bytes_of_the_modules_imported"] = int(mpy_bytes)
    out["modules_imported"] = int(modules)
    out["frozen_flash_estimate_all_modules"] = sum(r[2] for r in report)
    out["frozen_heap_after_imports_estimate"] = int(code - mpy_bytes)
    out["targets"] = {"micropython_data_peak_256_keys_rsa2048_exchange": "<= %d" % DATA_TARGET,
                      "micropython_keystore_256_keys": "<= %d (64 per key)" % (64 * KEYS)}
    out["met"] = {"micropython_data_peak_256_keys_rsa2048_exchange":
                  out["micropython_data_peak_256_keys_rsa2048_exchange"] <= DATA_TARGET,
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
