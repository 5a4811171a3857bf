# The two commands of the README:  `make demo`  and  `make test`.
# Both create .venv on first use (idempotent afterwards). The pinned CPU build of torch
# is installed before the project so that nothing pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.opkit-installed

.PHONY: setup demo test lint slow docs
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/opkit demo

test: $(STAMP)
	$(VENV)/bin/ruff check opkit tests benchmarks
	$(VENV)/bin/ruff format --check opkit tests benchmarks
	$(PY) -m pytest -q

slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# The documentation site (mkdocs.yml, docs/) into site/: offline, every warning an error.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
