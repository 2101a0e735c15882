# The two commands of the README: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench fuzz corpus-record lab lab-test clean

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

# KERNEL=<lab kernel>: record that qemu guest's verdicts into corpus/lab/ (make lab first).
corpus-record: $(STAMP)
	$(PY) $(if $(KERNEL),tools/record_lab.py $(KERNEL),tools/record_corpus.py)

# The kernel lab (README, "Kernel lab"): qemu guests of other kernels and arches, cached in
# $$BPFSIM_LAB (default ~/.cache/bpfsim-lab). `make test` never needs it.
# lab-test: the oracle's outcome suite (LAB_TEST_SUITE) on one guest per arch, one guest at a time.
LAB_TEST_KERNELS ?= debian-5.10-amd64 debian-6.12-arm64 debian-6.1-s390x
LAB_TEST_SUITE ?= tests/test_kernel.py tests/test_process.py lab/

lab: $(STAMP)
	$(PY) lab/lab.py

lab-test: $(STAMP)
	$(PY) lab/lab.py $(LAB_TEST_KERNELS)
	for k in $(LAB_TEST_KERNELS); do \
	  echo "lab-test: $$k"; \
	  BPFSIM_ORACLE_KERNEL=$$k $(PY) -m pytest -q -p no:cacheprovider $(LAB_TEST_SUITE) || exit 1; \
	done

clean:
	rm -rf $(VENV) build *.egg-info
