"""`make bench`: run every bench/bench_*.py and print one JSON object on stdout.

Each bench script prints a JSON object of its own figures, always with the
native reference (OpenSSL via `cryptography`, `openssl speed`) measured in the
same run so ratios can be read on a noisy machine.
"""
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    out = {}
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem[len("bench_"):]
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=HERE.parent)
        if proc.returncode:
            out[name] = {"error": proc.stderr.strip().splitlines()[-1:] or ["exit %d" % proc.returncode]}
        else:
            out[name] = json.loads(proc.stdout)
        print("bench %s done" % name, file=sys.stderr)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
