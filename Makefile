# Two doors: `make demo` (set up + train seed000 on MNIST, print test accuracy) and `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Developer/CI convenience only: use a datasets folder beside the checkout when there is one.
export SCRATCHCNN_DATA ?= $(abspath $(wildcard ../shared/datasets))

.PHONY: setup setup-test demo test bench clean

$(VENV)/.setup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.setup-test: $(VENV)/.setup
	$(PY) -m pip install -q -e '.[test,jieba]' torch==2.13.0
	touch $@

setup: $(VENV)/.setup
setup-test: $(VENV)/.setup-test

demo: setup
	$(VENV)/bin/scratchcnn train --model seed000 --dataset mnist --epochs 3

test: setup-test
	$(PY) -m pytest -n 2 tests

bench: setup-test
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(VENV)/bin/scratchcnn bench

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
