# fabrictwin: set-up, demo and tests. Every target installs what it needs.
# `sudo make demo` and `sudo make test` are the two commands of the README.

SHELL := /bin/bash
APT_PACKAGES := mininet openvswitch-switch iproute2 iputils-ping ethtool iperf3 \
                openssh-client openssh-server \
                tcpdump tshark fping python3-venv
# Debian's own interpreter: the system mininet package is installed for it.
SYSTEM_PYTHON ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup apt venv demo test lint clean distclean

setup: apt venv

# Idempotent: apt-get runs only when a package is missing.
apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install: $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: missing system packages ($$missing); run with sudo" >&2; exit 1; fi; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(STAMP)

# The venv is rebuilt only when pyproject.toml changes. Mininet comes from
# Debian's package (PyPI's is a 2020 snapshot without mnexec); a symlink in the
# venv's site-packages exposes that one package and nothing else of the system's.
$(STAMP): pyproject.toml | apt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	ln -sfn /usr/lib/python3/dist-packages/mininet \
	  "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mininet"
	$(PY) -c 'import fabrictwin, mininet.net'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/fabrictwin demo

# ruff, and the package's layers: an import pointing up (or a cycle) fails here.
lint: setup
	$(VENV)/bin/ruff check .
	$(PY) -m tests.layers

test: setup lint
	$(PY) -m pytest -q

clean:
	rm -rf results/ build/ *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
