# Two commands: `make run` and `make test`. Both set everything up first and are fast when nothing changed.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# Stamps are named after a hash of what they install, so editing a requirements file reinstalls and nothing else does.
RUNTIME_HASH := $(shell cat requirements.txt requirements-nodeps.txt pyproject.toml | sha1sum | cut -c1-12)
TEST_HASH := $(shell cat requirements-test.txt pyproject.toml | sha1sum | cut -c1-12)
RUNTIME_STAMP := $(VENV)/.runtime-$(RUNTIME_HASH)
TEST_STAMP := $(VENV)/.test-$(TEST_HASH)
SYSTEM_STAMP := $(VENV)/.system-deps

.PHONY: run test setup setup-test demo-model screenshots bench clean

run: setup
	$(VENV)/bin/streamlit run streamlit_app.py --server.address 127.0.0.1

# Two pytest workers, one test file each at a time: much of the suite waits on browsers, servers, subprocesses and
# Ray, so two workers on two cores take about 7 minutes instead of 12 (measured on an idle 2-core machine).
test: setup-test
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -n 2 --dist loadfile

setup: $(RUNTIME_STAMP)

setup-test: setup $(TEST_STAMP) $(SYSTEM_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): | $(PY)
	rm -f $(VENV)/.runtime-*
	@# One cv2 only: the contrib build replaces the plain headless one (both write cv2/, so remove the old first,
	@# and reinstall contrib if removing the old one took shared files with it).
	$(PIP) uninstall -y opencv-python-headless opencv-python >/dev/null 2>&1 || true
	$(PIP) install -r requirements.txt
	$(PIP) install --no-deps -r requirements-nodeps.txt
	$(PY) -c "import cv2; cv2.optflow.DualTVL1OpticalFlow_create; cv2.CascadeClassifier" >/dev/null 2>&1 || \
		$(PIP) install --force-reinstall --no-deps "$$(grep '^opencv-contrib' requirements.txt)"
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): | $(PY)
	rm -f $(VENV)/.test-*
	$(PIP) install -r requirements-test.txt
	@# The optional Ray extra, so the cluster tests of `larnet batch --ray` run.
	$(PIP) install --no-build-isolation -e ".[ray]"
	touch $@

# Debian's chromium (browser tests) and postgresql (session-store tests), installed when missing and we are root.
$(SYSTEM_STAMP): scripts/install-system-deps.sh | $(PY)
	bash scripts/install-system-deps.sh
	touch $@

# Rebuild the shipped demo model and its evaluation run from a freshly generated synthetic set.
demo-model: setup
	bash scripts/make-demo-model.sh

# Refresh the README's screenshots from the browser tests.
screenshots: setup-test
	LARNET_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(PY) -m pytest tests/test_browser_dashboard.py

bench: setup
	$(VENV)/bin/larnet bench model

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
