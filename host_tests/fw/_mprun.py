# MicroPython side of host_tests/conftest.py: run every test_* function of one module in
# file order (as pytest does), reporting PASS, FAIL or SKIP (fwtest.skip) for each.
import sys

name = sys.argv[1]
mod = __import__(name)
with open(name + ".py") as f:
    tests = [line[4:line.index("(")] for line in f if line.startswith("def test_")]
for attr in tests:
    try:
        getattr(mod, attr)()
        print("@@PASS " + attr)
    except Exception as e:
        if type(e).__name__ == "Skipped":
            print("@@SKIP " + attr)
            print(e.args[0])
            continue
        print("@@FAIL " + attr)
        sys.print_exception(e, sys.stdout)
print("@@END done")
