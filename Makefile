# Two entry points for a fresh machine (Python 3.11+ and the package index):
#   make results   create .venv if missing, run the whole pipeline and build the HTML report
#   make test      create .venv if missing, run the linters (make lint) and the whole test suite
#   make test-cluster   the demo corpus through a one-node SLURM cluster, byte-identical to a local run
#   make new-study ID=smith2024   scaffold resources/studies/smith2024/ and list what to fill
# Pass Snakemake options with ARGS, e.g. make results ARGS="--configfile other.yaml".
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
ARGS ?=

.PHONY: results test bench lint report clean new-study test-cluster

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# After an interrupted run, the same command recovers: a lock no running Snakemake holds is removed
# (evsynth.common.runlock) and --rerun-incomplete remakes what the killed job left half-written.
results: $(BIN)/.installed
	$(BIN)/python -m evsynth.common.runlock .
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(ARGS)
	$(BIN)/snakemake --cores $(CORES) $(ARGS) --report results/report.html

# The suite on every core (pytest-xdist): each test module stays on one worker, the tests that share the demo's
# Snakemake runs start first (tests/conftest.py orders them first; --no-loadscope-reorder keeps that order instead
# of xdist's largest-group-first, which would start these three longest tests last). A plain `python -m pytest`
# runs the same tests in one process.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadgroup --no-loadscope-reorder

lint: $(BIN)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check workflow/Snakefile workflow/rules

# The pipeline benchmarks take long (the 60x corpus especially): choose with BENCH_PARTS and BENCH_SCALES, e.g.
# make bench BENCH_PARTS=interactive,multiverse BENCH_SCALES=1,4 (every Snakemake run is capped: benchmarks/pipeline.py).
BENCH_PARTS ?= interactive,multiverse,scale,tests
BENCH_SCALES ?= 1,4,16,60
bench: $(BIN)/.installed
	$(BIN)/python benchmarks/engine.py engine results/benchmarks/engine.json
	$(BIN)/python benchmarks/harmonize.py results/benchmarks/harmonize.json
	$(BIN)/python benchmarks/pipeline.py --parts $(BENCH_PARTS) --scales $(BENCH_SCALES) --out results/benchmarks

# The demo corpus through a real one-node SLURM cluster on this machine (root; installs slurm-wlm and munge from
# Debian the first time), compared byte for byte with a local run; stops the daemons it started. Not run by CI.
test-cluster: $(BIN)/.installed
	$(BIN)/python -m pip install -e '.[dev,slurm]'
	start=$$(date +%s); bash .ci/slurm-up.sh || { bash .ci/slurm-down.sh; exit 1; }; \
	echo "test-cluster: cluster up in $$(( $$(date +%s) - start )) s"; \
	SLURM_CONF=$${EVSYNTH_SLURM_DIR:-/tmp/evsynth-slurm}/slurm.conf $(BIN)/python .ci/test_cluster.py; \
	status=$$?; bash .ci/slurm-down.sh; exit $$status

# Scaffold a study folder for a reviewer and list what to fill: make new-study ID=smith2024
new-study: $(BIN)/.installed
	@test -n "$(ID)" || { echo "usage: make new-study ID=<surname><year>, e.g. ID=smith2024" >&2; exit 2; }
	$(BIN)/python -m evsynth new-study $(ID)

clean:
	rm -rf results logs .snakemake
