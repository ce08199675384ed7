# Hypothesis fuzzing of every wire parser (CPython): any input gives a record or a ParseError.
from hypothesis import given, settings, strategies as st

from test_wire_fuzz_mp import decode, seeds

SEEDS = seeds()


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(buf):
    decode(buf)


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
       st.integers(0, 2000))
def test_mutated_packets(seed, flips, cut):
    b = bytearray(seed)
    for pos, val in flips:
        b[pos % len(b)] = val
    decode(bytes(b[:cut]))


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(SEEDS), st.binary(min_size=1, max_size=40), st.integers(0, 2000))
def test_inserted_bytes(seed, junk, pos):
    p = pos % (len(seed) + 1)
    decode(seed[:p] + junk + seed[p:])
