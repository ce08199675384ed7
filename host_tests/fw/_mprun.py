# MicroPython side of host_tests/conftest.py: run every test_* function of one module.
import sys

name = sys.argv[1]
mod = __import__(name)
for attr in sorted(dir(mod)):
    fn = getattr(mod, attr)
    if not attr.startswith("test_") or not callable(fn):
        continue
    try:
        fn()
        print("@@PASS " + attr)
    except Exception as e:
        print("@@FAIL " + attr)
        sys.print_exception(e, sys.stdout)
print("@@END done")
