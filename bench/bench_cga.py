"""CGA modifier search speed: numba lanes and hashlib fallback per core, next to
`openssl speed -evp sha1` at the same Hash2 input length, measured in this run;
2 workers vs 1, Dask LocalCluster vs local processes, and the Sec=2 estimate."""
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


def main():
    out = {"unit": "trials per second (one SHA-1 of the Hash2 input each)",
           "load_average_1min_at_start": os.getloadavg()[0]}
    for bits in (1024, 2048):
        j = job(bits)
        nbytes = len(j.hash2_input(bytes(16)))
        ref = openssl_sha1(nbytes)
        fast = per_core(cgasearch.scan_numba, j)
        slow = per_core(cgasearch.scan_hashlib, j)
        out["rsa%d" % bits] = {"hash2_bytes": nbytes, "openssl_sha1_per_core": round(ref),
                               "numba_per_core": round(fast), "hashlib_per_core": round(slow),
                               "numba_vs_openssl": round(fast / ref, 2), "hashlib_vs_openssl": round(slow / ref, 2)}
    j = job(1024)
    with cgasearch.local_executor(1) as ex:
        pool_rate(ex, 2, j, 0.5)  # start the worker
        one = pool_rate(ex, 2, j)
    with cgasearch.local_executor(2) as ex:
        pool_rate(ex, 4, j, 0.5)
        two = pool_rate(ex, 4, j)
    from dask.distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        ex = cgasearch.dask_executor(client)
        pool_rate(ex, 4, j, 1.0)  # workers load the cached kernel
        dask = pool_rate(ex, 4, j)
    out["rsa1024_workers"] = {"one": round(one), "two": round(two), "speedup": round(two / one, 2),
                              "dask_two": round(dask), "dask_vs_processes": round(dask / two, 2)}
    out["sec2_rsa1024_estimate_s"] = round(2 ** 32 / two, 1)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
