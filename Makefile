# The two commands of the README:
#   make app    run Latent Explorer on the bundled models
#   make test   run the test suite
# Both set everything up on a fresh Debian machine (virtual environment, Python packages,
# and, when run as root, the Debian packages: Fashion-MNIST and Qt's X11 libraries).
#   make bench  run every benchmark (benchmarks/*.py), each printing JSON; QUICK=1 for small repeat counts
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: app test bench gpu-check fuzz models package system-deps clean-venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[train,test,package,map,tensorboard]'
	touch $@

system-deps:
	@scripts/install-system-deps

app: $(STAMP) system-deps
	@scripts/run-app $(BIN)/latent-explorer

test: $(STAMP) system-deps
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

# Every benchmark, each printing one JSON object, then a summary of which ran (benchmarks/_run_all.py);
# installs the bench extra first (matplotlib). QUICK=1: small repeat counts (checks they run, not speed);
# BENCH_OUT=DIR also writes each result to DIR/NAME.json; BENCH="grid startup" runs only those.
BENCH_STAMP := $(VENV)/.bench-installed
QUICK       ?=
BENCH_OUT   ?=
BENCH       ?=
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[train,test,package,map,bench]'
	touch $@

bench: $(BENCH_STAMP) system-deps
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 $(BIN)/python benchmarks/_run_all.py $(if $(QUICK),--quick) \
		$(if $(BENCH_OUT),--out $(BENCH_OUT)) $(if $(BENCH),--only $(BENCH))

# The GPU check (benchmarks/gpu_check.sh): one JSON of providers really used and GPU-vs-CPU frame times;
# it sets up onnxruntime-gpu itself where .venv lacks it, and without a GPU records why and the CPU figures.
gpu-check:
	benchmarks/gpu_check.sh $(or $(GPU_CHECK_OUT),gpu_check.json)

# Fuzz every way a model file is opened with N seeded mutations of the bundled models (from seed START),
# each case in a child process; prints a table of outcomes per mutation kind (tests/fuzz/harness.py).
N     ?= 1000
START ?= 0
fuzz: $(STAMP)
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 $(BIN)/python tests/fuzz/harness.py --n $(N) --start $(START)

# Build the double-click app: dist/latent-explorer/ (then dist/latent-explorer/install.sh)
package: $(STAMP)
	$(BIN)/python packaging/build.py --smoke

# Retrain every bundled model from fixed seeds and copy them into assets/models (hours on 2 CPU cores).
models: $(STAMP) system-deps
	$(BIN)/python -m training.bundle_assets --runs runs/assets

# Only the UMAP layouts (umap.npz) of the installed bundles: the VAE's atlas, the GANs' default
# feature maps (these read Fashion-MNIST): minutes, no retraining.
.PHONY: umap-layouts
umap-layouts: $(STAMP) system-deps
	$(BIN)/python -m training.bundle_assets --umap-only

clean-venv:
	rm -rf $(VENV)
