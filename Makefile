# The two commands that do all set-up on a fresh machine (Python 3.11 and pip are enough):
#   make run    runs the main job: the XGBoost end-to-end pipeline, locally, on bundled data
#   make test   runs lint, format check, type check and the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# this kind of machine keeps a CPU build of torch on disk; elsewhere pip looks on PyPI
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
INSTALL = $(VENV)/bin/uv pip install --quiet --python $(PY) $(FIND_LINKS)
# Byte-compile once: with PYTHONDONTWRITEBYTECODE set (as on these machines) every fresh process
# would otherwise recompile each import, seconds per command.
COMPILE = $(PY) -m compileall -q -j 0 $(VENV)/lib/python3*/site-packages src >/dev/null 2>&1 || true
OUT ?= out
CONFIG := $(OUT)/xgboost_e2e.config.json

.PHONY: run test lint bench clean

$(VENV)/.uv:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv
	touch $@

$(VENV)/.ml: pyproject.toml $(VENV)/.uv
	$(INSTALL) -e '.[ml,mlops]'
	$(COMPILE)
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.ml
	$(INSTALL) -e '.[ml,mlops,torch,sagemaker,airflow,serving,dev]'
	$(COMPILE)
	touch $@

$(CONFIG): | $(VENV)/.ml
	$(VENV)/bin/cursus config init xgboost_e2e -o $(CONFIG)

run: $(VENV)/.ml $(CONFIG)
	OMP_NUM_THREADS=1 $(VENV)/bin/cursus run xgboost_e2e -c $(CONFIG) --workspace $(OUT)/workspace

# Airflow gets its own environment: its pins need not agree with Cursus' dependencies, and the DAG
# files Cursus writes need only Airflow plus the path of the Python that has Cursus.
AIRFLOW_VENV ?= .venv-airflow
$(AIRFLOW_VENV)/.installed: $(VENV)/.uv
	python3 -m venv $(AIRFLOW_VENV)
	$(VENV)/bin/uv pip install --quiet --python $(AIRFLOW_VENV)/bin/python "apache-airflow==2.10.5"
	touch $@

$(AIRFLOW_VENV)3/.installed: $(VENV)/.uv
	python3 -m venv $(AIRFLOW_VENV)3
	$(VENV)/bin/uv pip install --quiet --python $(AIRFLOW_VENV)3/bin/python "apache-airflow==3.3.2"
	touch $@

# The dashboard's browser tests drive Debian's chromium, headless.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: chromium could not be installed; the dashboard's browser tests will be skipped"

# Twins of SageMaker's framework images (each image's Python from pyenv, its pins from PyPI):
# the emulation tests run the catalog pipelines in them. A machine without an image's Python
# skips those tests (saying so); a twin whose packages fail to install fails the build.
.PHONY: twins
twins: $(VENV)/.dev
	$(VENV)/bin/cursus sagemaker twins build --skip-missing-python

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

test: lint twins $(AIRFLOW_VENV)/.installed $(AIRFLOW_VENV)3/.installed chromium
	# one worker per core; a file's tests stay together (modules share workspaces and twins' results)
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -n auto --dist loadfile --cov --cov-report=term

bench: $(VENV)/.dev
	for b in bench/bench_*.py; do OMP_NUM_THREADS=1 $(PY) $$b || exit 1; done

clean:
	rm -rf $(OUT) .cursus .pytest_cache $(AIRFLOW_VENV) $(AIRFLOW_VENV)3
