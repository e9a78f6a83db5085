# The README's commands. Every target sets itself up first (idempotent, seconds when done):
#   make book   build the book (notebooks executed in book mode) into _build/html
#   make test   the whole test suite in one pytest run on every core (units, book build + browser
#               check, nbval smoke; TEST_WORKERS=0 for one process)
#   make lint   ruff over the library, tests and notebooks
#   make reproduce  every GPU job of the book not done yet (on a GPU machine with the data; prints
#               the plan first; resumable; MINUTES=9 per call, ARGS="--smoke" for the CPU check)
#   make clean  remove build outputs (keeps .venv)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.dcgan-setup-stamp
KERNEL_CONFIG := $(VENV)/etc/ipython/ipython_kernel_config.py
NPM_DIR := .mathjax_npm
MATHJAX := book/_static_mathjax/mathjax/tex-chtml.js
CHROMIUM ?= /usr/bin/chromium
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=900

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup setup-python setup-mathjax setup-chromium book test lint reproduce clean

help:
	@echo "make book | make test | make lint | make reproduce | make setup | make clean"

# Everything: the venv, offline MathJax, and Chromium for the browser check of the built site.
setup: setup-python setup-mathjax setup-chromium

setup-python: $(STAMP) $(KERNEL_CONFIG)

# uv when available (about a minute cold); the same pins install with plain pip too (README).
$(STAMP): requirements.txt pyproject.toml
	@if command -v uv >/dev/null 2>&1; then UV=uv; else \
	  if ! $(PYTHON) -m uv --version >/dev/null 2>&1; then \
	    $(PYTHON) -m pip install uv==0.13.8 || $(PYTHON) -m pip install --break-system-packages uv==0.13.8; \
	  fi; UV="$(PYTHON) -m uv"; fi; \
	if [ ! -x $(VPY) ]; then $$UV venv -p 3.11 $(VENV); fi; \
	$$UV pip install --python $(VPY) --compile-bytecode -r requirements.txt -e .
	@touch $@

# The kernels' configuration for this environment: no warning about local unencrypted TCP on
# every notebook of a build (book/ipython_kernel_config.py says why).
$(KERNEL_CONFIG): book/ipython_kernel_config.py $(STAMP)
	mkdir -p $(dir $@)
	cp $< $@

setup-mathjax: $(MATHJAX)

# MathJax 3 served from the built site, so maths render offline (no CDN).
$(MATHJAX):
	npm install --no-audit --no-fund --loglevel=error --prefix $(NPM_DIR) mathjax@3
	rm -rf book/_static_mathjax
	mkdir -p book/_static_mathjax
	cp -r $(NPM_DIR)/node_modules/mathjax/es5 book/_static_mathjax/mathjax

setup-chromium:
	@if [ ! -x $(CHROMIUM) ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi

book: setup-python setup-mathjax
	DCGAN_MODE=$${DCGAN_MODE:-book} $(VENV)/bin/jupyter-book build . -W --all

# One pytest run: units, book structure, the book build in book mode with the browser check
# (tests/conftest.py builds it once, with DCGAN_MODE=book, for every test that reads it), and
# every notebook under nbval in smoke mode. pytest-xdist runs it on TEST_WORKERS processes (one
# per core; 0: none), each test file and each notebook on one, the book's first (the order of
# tests/conftest.py). Exit code 5 (nothing collected) is not a failure.
TEST_WORKERS ?= auto
test: setup
	@DCGAN_MODE=smoke $(VPY) -m pytest tests notebooks -m "not gpu" $(NBVAL) \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15 \
	  || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; }

lint: setup-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check dcgan_lib tests notebooks

reproduce: setup-python
	$(VPY) -m dcgan_lib reproduce --data-root $${DCGAN_DATA:-../shared/data} \
	  --max-minutes $${MINUTES:-9} $(ARGS)

clean:
	rm -rf _build .jupyter_cache .pytest_cache .ruff_cache book/_static_mathjax $(NPM_DIR)
