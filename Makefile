# The two commands that do all set-up on a fresh machine (Python 3.11 and pip are enough):
#   make run    runs the main job: the XGBoost end-to-end pipeline, locally, on bundled data
#   make test   runs lint, format check and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# this kind of machine keeps a CPU build of torch on disk; elsewhere pip looks on PyPI
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
INSTALL = $(VENV)/bin/uv pip install --quiet --python $(PY) $(FIND_LINKS)
OUT ?= out
CONFIG := $(OUT)/xgboost_e2e.config.json

.PHONY: run test lint bench clean

$(VENV)/.uv:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	touch $@

$(VENV)/.ml: pyproject.toml $(VENV)/.uv
	$(INSTALL) -e '.[ml]'
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.ml
	$(INSTALL) -e '.[ml,torch,sagemaker,dev]'
	touch $@

$(CONFIG): | $(VENV)/.ml
	$(VENV)/bin/cursus config init xgboost_e2e -o $(CONFIG) --set pipeline_name=xgboost-e2e

run: $(VENV)/.ml $(CONFIG)
	OMP_NUM_THREADS=1 $(VENV)/bin/cursus run xgboost_e2e -c $(CONFIG) --workspace $(OUT)/workspace

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

test: lint
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest

bench: $(VENV)/.dev
	for b in bench/bench_*.py; do OMP_NUM_THREADS=1 $(PY) $$b || exit 1; done

clean:
	rm -rf $(OUT) .cursus .pytest_cache
