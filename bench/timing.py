"""Timing shared by the bench scripts (each runs as `python bench/bench_X.py`, so this
folder is on sys.path)."""
import statistics
import time


def median_ms(fn, runs):
    """Median wall time of fn() over runs calls, in ms, after one warm-up call."""
    fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return round(statistics.median(t) * 1000, 4)
