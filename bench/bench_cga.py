"""CGA modifier search speed: numba lanes and hashlib fallback per core, next to
`openssl speed -evp sha1` at the same Hash2 input length, measured in this run;
2 workers vs 1, Dask LocalCluster (worker processes, and one threaded worker as
a default `dask worker` is) vs local processes, and the Sec=2 estimate.

Every figure is the best of 3 runs, the native reference too (a busy machine
only slows a run down). Each target is printed beside its figure as {value, target, met}, so
a miss shows."""
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from fmipkey_tools import cgasearch  # noqa: E402

SECONDS = 2.0
RUNS = 3  # best of, for every figure
# The figures issue 4 asks for: fast path per core >= 1.5x OpenSSL's single stream at the same
# input length, fallback >= 40 % of it, 2 workers >= 1.8x one, Dask >= 85 % of local
# multiprocessing on the same cores, a Sec=2 search for an RSA-1024 key under 5 minutes.
TARGETS = {"numba_vs_openssl": (">=", 1.5), "hashlib_vs_openssl": (">=", 0.4), "two_vs_one": (">=", 1.8),
           "dask_processes_vs_local": (">=", 0.85), "dask_threads_vs_local": (">=", 0.85),
           "sec2_rsa1024_estimate_s": ("<=", 300)}
NEVER = 3  # Sec 3 (2^48 work): a range is scanned to its end, so trials = range size


def job(bits):
    key = rsa.generate_private_key(65537, bits).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cgasearch.Job(spki, NEVER)


def per_core(scan, j):
    """Trials per second of one engine on this core, ~SECONDS long."""
    n = 1 << 14
    scan(j, 0, n)  # warm up (numba load, tables)
    while True:
        t = time.perf_counter()
        scan(j, 0, n)
        dt = time.perf_counter() - t
        if dt > SECONDS / 4:
            return n / dt if dt > SECONDS / 2 else per_core_n(scan, j, int(n * SECONDS / dt))
        n *= 4


def per_core_n(scan, j, n):
    t = time.perf_counter()
    scan(j, 0, n)
    return n / (time.perf_counter() - t)


def openssl_sha1(nbytes):
    out = subprocess.run(["openssl", "speed", "-evp", "sha1", "-bytes", str(nbytes), "-seconds", "2"],
                         capture_output=True, text=True).stdout
    kbytes = float(re.search(r"^sha1\s+([\d.]+)k", out, re.M).group(1))
    return kbytes * 1000 / nbytes


def pool_rate(executor, in_flight, j, seconds=SECONDS * 2):
    """Trials/s of a Search on an executor, stopped after ~seconds."""
    search = cgasearch.Search({"b": j})
    start = time.perf_counter()

    def stop(n):
        if time.perf_counter() - start > seconds:
            raise KeyboardInterrupt

    try:
        search.run(executor, in_flight, stop)
    except KeyboardInterrupt:
        pass
    return search.trials / (time.perf_counter() - start)


def best_rate(executor, in_flight, j):
    pool_rate(executor, in_flight, j, 0.5)  # start the workers, load the cached kernel
    # windows of 3 s: with ~0.25 s tasks, shorter ones measure start-up and the dropped tail
    return max(pool_rate(executor, in_flight, j, SECONDS * 1.5) for _ in range(RUNS))


def target(name, value):
    op, bound = TARGETS[name]
    return {"value": round(value, 2), "target": "%s %s" % (op, bound),
            "met": value >= bound if op == ">=" else value <= bound}


def _figures(out):
    for part in out.values():
        if isinstance(part, dict) and "met" in part:
            yield part
        elif isinstance(part, dict):
            for v in part.values():
                if isinstance(v, dict):
                    yield v


def main():
    out = {"unit": "trials per second (one SHA-1 of the Hash2 input each)",
           "load_average_1min_at_start": os.getloadavg()[0]}
    for bits in (1024, 2048):
        j = job(bits)
        nbytes = len(j.hash2_input(bytes(16)))
        # best of RUNS for the reference and both engines alike (interleaved)
        runs = [(openssl_sha1(nbytes), per_core(cgasearch.scan_numba, j), per_core(cgasearch.scan_hashlib, j))
                for _ in range(RUNS)]
        ref, fast, slow = (max(r[i] for r in runs) for i in range(3))
        out["rsa%d" % bits] = {"hash2_bytes": nbytes, "openssl_sha1_per_core": round(ref),
                               "numba_per_core": round(fast), "hashlib_per_core": round(slow),
                               "numba_vs_openssl": target("numba_vs_openssl", fast / ref),
                               "hashlib_vs_openssl": target("hashlib_vs_openssl", slow / ref)}
    j = job(1024)
    # one and two workers measured in alternation, so drift on a shared machine hits both alike
    with cgasearch.local_executor(1) as ex1, cgasearch.local_executor(2) as ex2:
        pool_rate(ex1, 2, j, 0.5)
        pool_rate(ex2, 4, j, 0.5)
        pairs = [(pool_rate(ex1, 2, j, SECONDS * 1.5), pool_rate(ex2, 4, j, SECONDS * 1.5)) for _ in range(RUNS)]
    one = max(p[0] for p in pairs)
    two = max(p[1] for p in pairs)
    from dask.distributed import Client, LocalCluster
    dask = {}
    for kind, processes, workers, threads in (("processes", True, 2, 1), ("threads", False, 1, 2)):
        with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=processes,
                          dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
                Client(cluster) as client:
            dask[kind] = best_rate(cgasearch.dask_executor(client), 4, j)
    out["rsa1024_workers"] = {"best_of": RUNS, "one": round(one), "two": round(two),
                              "two_vs_one": target("two_vs_one", two / one),
                              "dask_2_processes": round(dask["processes"]),
                              "dask_processes_vs_local": target("dask_processes_vs_local", dask["processes"] / two),
                              "dask_1_worker_2_threads": round(dask["threads"]),
                              "dask_threads_vs_local": target("dask_threads_vs_local", dask["threads"] / two)}
    out["sec2_rsa1024_estimate_s"] = target("sec2_rsa1024_estimate_s", 2 ** 32 / two)
    out["targets_met"] = all(v["met"] for v in _figures(out))
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
