"""Crash safety (issue 12): the AR daemon (MicroPython) killed with SIGKILL 1,000 times at
random moments while it issues and persists handover keys for fresh CGAs; after each restart
every key acknowledged to an MN before the kill must still authenticate an FBU. Prints the
counts, the cycle rate, and whether every checked FBU was accepted. Needs root (namespaces)."""
import json
import os
import tempfile
import time
from pathlib import Path

CYCLES = 1000


def main():
    if os.geteuid() != 0:
        print(json.dumps({"skipped": "needs root for network namespaces"}))
        return
    from fmipkey_tools import hostile
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        s = hostile.crash_cycles(Path(tmp) / "crash", CYCLES)
    s["seconds"] = round(time.time() - t0, 1)
    s["all_keys_kept"] = s["fbus_accepted"] == s["fbus_checked"] and s["store_refused"] == 0
    print(json.dumps(s))


if __name__ == "__main__":
    main()
