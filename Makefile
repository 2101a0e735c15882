# The two commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz corpus-record clean

# compat: the checkout goes on sys.path through a one-line .pth. The default editable mode
# installs an import hook that loads pathlib and friends at every interpreter start (8 ms here),
# which each `bpfsim` command would pay.
EDITABLE := --config-settings editable_mode=compat

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(EDITABLE) -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check $(EDITABLE) -e '.[bench]'
	$(PY) bench/run.py

fuzz: $(STAMP)
	$(PY) -m fuzz --minutes 10

corpus-record: $(STAMP)
	$(PY) tools/record_corpus.py

clean:
	rm -rf $(VENV) build *.egg-info
