# The two commands of the README:  `make demo`  and  `make test`.
# Both create .venv on first use (idempotent afterwards) and install from constraints.txt,
# the versions the tests last passed with, so a fresh machine gets the same environment.
# torch: the pinned version's CPU build from PyTorch's CPU index (TORCH_INDEX), unless the
# venv already has a torch (a CUDA build put there first: see the README), which is kept.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.opkit-installed
CONSTRAINTS := constraints.txt
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: setup demo test lint slow docs
setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q -c $(CONSTRAINTS) torch \
		--extra-index-url $(TORCH_INDEX) --retries 0 --timeout 20
	# a torch already there (e.g. CUDA) is not replaced: constrain everything else
	grep -v '^torch==' $(CONSTRAINTS) > $(VENV)/constraints-installed.txt
	$(PY) -m pip install -q -c $(VENV)/constraints-installed.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/opkit demo

test: lint
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check opkit tests benchmarks tools docs/_hooks
	$(VENV)/bin/ruff format --check opkit tests benchmarks tools docs/_hooks
	# opkit must import on the oldest Python it declares (requires-python >= 3.10)
	$(VENV)/bin/vermin --target=3.10- --no-tips --violations --quiet opkit

slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The documentation site (mkdocs.yml, docs/) into site/: offline, every warning an error.
# `python tools/check_docs_browser.py` then checks links, anchors and rendered formulas.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
