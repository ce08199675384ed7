"""Timing for bench workers that run under MicroPython and CPython alike (bench_crypto,
bench_attacks put this folder on MICROPYPATH/PYTHONPATH): medians in microseconds."""
import gc
import time

try:
    ticks, diff = time.ticks_us, time.ticks_diff
except AttributeError:
    ticks, diff = (lambda: time.perf_counter_ns() // 1000), (lambda a, b: a - b)


def med(v):
    v = sorted(v)
    return v[len(v) // 2]


def median(fn, n):
    """Median of n calls of fn, each after a collection, in microseconds."""
    t = []
    for _ in range(n):
        gc.collect()
        t0 = ticks()
        fn()
        t.append(diff(ticks(), t0))
    return med(t)
