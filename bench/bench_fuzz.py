"""Fuzzing at scale (issue 12): host_tests/fw/enginefuzz.py under MicroPython with a fixed
seed, 200,000 mutated-valid and random packets into the two engines (the AR 150,000, the MN
50,000: each MN input that is accepted costs a new exchange to get back to waiting). Per
engine: inputs, accepted (counted as accepted by the engine), parsed (got past the parsers
and the cheap checks), seconds; an exception or a state change from a refused input stops
the run and is printed as the error."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
RUNS = (("ar", "fuzz_ar", 150000), ("mn", "fuzz_mn", 50000))
CODE = "import time, enginefuzz\nt = time.time()\nn, a, p = enginefuzz.%s(%d)\nprint(n, a, p, time.time() - t)\n"


def main():
    out = {}
    env = dict(os.environ, MICROPYPATH="%s:%s" % (ROOT / "firmware", ROOT / "host_tests" / "fw"))
    for name, fn, n in RUNS:
        r = subprocess.run([str(MICROPYTHON), "-c", CODE % (fn, n)], capture_output=True, text=True, env=env)
        if r.returncode:
            out[name] = {"error": (r.stdout + r.stderr).strip().splitlines()[-3:]}
            continue
        n, a, p, s = r.stdout.split()
        out[name] = {"inputs": int(n), "accepted": int(a), "parsed": int(p), "parsed_share": round(int(p) / int(n), 3),
                     "seconds": round(float(s), 1)}
        print("fuzz %s done" % name, file=sys.stderr)
    out["inputs"] = sum(v.get("inputs", 0) for v in out.values())
    out["no_error"] = all("error" not in v for v in out.values() if isinstance(v, dict))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
