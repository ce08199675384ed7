# Both engines fuzzed with a fixed seed (enginefuzz.py): no exception escapes handle(), a
# refused input changes no state, and a share of the mutated inputs gets past the parsers
# and the cheap checks (so the fuzzer reaches the deep code). bench_fuzz runs 200,000.
from enginefuzz import fuzz_ar, fuzz_mn


def test_access_router_fuzzed():
    n, accepted, parsed = fuzz_ar(1500)
    assert parsed >= n // 10, (n, accepted, parsed)


def test_mobile_node_fuzzed():
    n, accepted, parsed = fuzz_mn(1500)
    assert parsed >= n // 10, (n, accepted, parsed)
