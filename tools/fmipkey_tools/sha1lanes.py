"""SHA-1 over many lanes at once, for the CGA modifier search (numba).

Rounds run in the outer loop and lanes in the inner loop over (lanes,) uint32
arrays, so LLVM turns every round into vector instructions across lanes. The
lanes share everything after the first 64-octet block (the job's key and
extensions), whose schedules with K folded in are given precomputed.

The entry points release the GIL (nogil) so the threads of one Dask worker
(threaded by default) each use a core.
"""
import numpy as np
from numba import njit


@njit(inline="always")
def rotl(x, n):
    return np.uint32((x << np.uint32(n)) | (x >> np.uint32(32 - n)))


# One round for every lane. The caller renames the five state arrays instead
# of moving them: the new A is written over E, rotl(B, 30) over B.
@njit(inline="always")
def r_ch(a, b, c, d, e, w):
    for j in range(a.shape[0]):
        e[j] = np.uint32(e[j] + rotl(a[j], 5) + (d[j] ^ (b[j] & (c[j] ^ d[j]))) + w[j])
        b[j] = rotl(b[j], 30)


@njit(inline="always")
def r_par(a, b, c, d, e, w):
    for j in range(a.shape[0]):
        e[j] = np.uint32(e[j] + rotl(a[j], 5) + (b[j] ^ c[j] ^ d[j]) + w[j])
        b[j] = rotl(b[j], 30)


@njit(inline="always")
def r_maj(a, b, c, d, e, w):
    for j in range(a.shape[0]):
        e[j] = np.uint32(e[j] + rotl(a[j], 5) + ((b[j] & c[j]) | (d[j] & (b[j] | c[j]))) + w[j])
        b[j] = rotl(b[j], 30)


@njit(inline="always")
def compress(h, s, x):
    """h: (5, lanes) state; s: (5, lanes) scratch; x: (80, lanes) K[t] + W[t]."""
    a, b, c, d, e = s[0], s[1], s[2], s[3], s[4]
    for i in range(5):
        for j in range(h.shape[1]):
            s[i, j] = h[i, j]
    for t in range(0, 20, 5):
        r_ch(a, b, c, d, e, x[t])
        r_ch(e, a, b, c, d, x[t + 1])
        r_ch(d, e, a, b, c, x[t + 2])
        r_ch(c, d, e, a, b, x[t + 3])
        r_ch(b, c, d, e, a, x[t + 4])
    for t in range(20, 40, 5):
        r_par(a, b, c, d, e, x[t])
        r_par(e, a, b, c, d, x[t + 1])
        r_par(d, e, a, b, c, x[t + 2])
        r_par(c, d, e, a, b, x[t + 3])
        r_par(b, c, d, e, a, x[t + 4])
    for t in range(40, 60, 5):
        r_maj(a, b, c, d, e, x[t])
        r_maj(e, a, b, c, d, x[t + 1])
        r_maj(d, e, a, b, c, x[t + 2])
        r_maj(c, d, e, a, b, x[t + 3])
        r_maj(b, c, d, e, a, x[t + 4])
    for t in range(60, 80, 5):
        r_par(a, b, c, d, e, x[t])
        r_par(e, a, b, c, d, x[t + 1])
        r_par(d, e, a, b, c, x[t + 2])
        r_par(c, d, e, a, b, x[t + 3])
        r_par(b, c, d, e, a, x[t + 4])
    for i in range(5):
        for j in range(h.shape[1]):
            h[i, j] = np.uint32(h[i, j] + s[i, j])


@njit(inline="always")
def hash_lanes(h, s, w, x, wc):
    """SHA-1 of every lane: first block in w[0:16] (per lane), later blocks' K+W in wc (shared)."""
    lanes = h.shape[1]
    for t in range(16, 80):
        for j in range(lanes):
            w[t, j] = rotl(w[t - 3, j] ^ w[t - 8, j] ^ w[t - 14, j] ^ w[t - 16, j], 1)
    for t in range(80):
        kt = np.uint32(0x5A827999 if t < 20 else 0x6ED9EBA1 if t < 40 else 0x8F1BBCDC if t < 60 else 0xCA62C1D6)
        for j in range(lanes):
            x[t, j] = np.uint32(w[t, j] + kt)
    for j in range(lanes):
        h[0, j] = 0x67452301
        h[1, j] = 0xEFCDAB89
        h[2, j] = 0x98BADCFE
        h[3, j] = 0x10325476
        h[4, j] = 0xC3D2E1F0
    compress(h, s, x)
    for b in range(wc.shape[0]):
        compress(h, s, wc[b])


@njit(inline="always")
def broadcast(rest, lanes):
    wc = np.empty((rest.shape[0], 80, lanes), np.uint32)
    for b in range(rest.shape[0]):
        for t in range(80):
            for j in range(lanes):
                wc[b, t, j] = rest[b, t]
    return wc


@njit(cache=True, nogil=True)
def digests(first, rest):
    """(5, lanes) SHA-1 states for lanes whose first blocks are the columns of first (16, lanes)."""
    lanes = first.shape[1]
    h = np.empty((5, lanes), np.uint32)
    s = np.empty((5, lanes), np.uint32)
    w = np.empty((80, lanes), np.uint32)
    x = np.empty((80, lanes), np.uint32)
    w[:16] = first
    hash_lanes(h, s, w, x, broadcast(rest, lanes))
    return h


@njit(cache=True, nogil=True)
def scan(first, rest, m0, m1, hi, lo, count):
    """Lowest k < count whose trial (base words 2, 3 XOR hi, lo + k) hits, or -1.
    lo + count must not pass 2^32 (the caller splits at word boundaries)."""
    lanes = 64
    h = np.empty((5, lanes), np.uint32)
    s = np.empty((5, lanes), np.uint32)
    w = np.empty((80, lanes), np.uint32)
    x = np.empty((80, lanes), np.uint32)
    wc = broadcast(rest, lanes)
    for t in range(16):
        for j in range(lanes):
            w[t, j] = first[t]
    for j in range(lanes):
        w[2, j] = first[2] ^ np.uint32(hi)
    for base in range(0, count, lanes):
        for j in range(lanes):
            w[3, j] = first[3] ^ np.uint32(lo + base + j)
        hash_lanes(h, s, w, x, wc)
        for j in range(lanes):
            if (h[0, j] & m0) == 0 and (h[1, j] & m1) == 0 and base + j < count:
                return base + j
    return -1
