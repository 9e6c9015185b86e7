# Every target creates or updates .venv itself: on a fresh clone `make demo` and `make test`
# are the only two commands needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench serve venv clean

venv: $(STAMP)

$(STAMP): requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/layout2im demo

# The layout editor on http://127.0.0.1:8000/ (MODEL=DIR picks a model folder; default: the
# shipped default model).
serve: $(STAMP)
	$(VENV)/bin/layout2im serve $(if $(MODEL),--model $(MODEL))

# pytest exits 5 when it collects no tests: that is a failure here, with a message.
test: $(STAMP)
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) outputs build *.egg-info src/*.egg-info
