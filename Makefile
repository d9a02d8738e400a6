# Two entry points for a fresh machine (Python 3.11+ and the package index):
#   make results   create .venv if missing, run the whole pipeline and build the HTML report
#   make test      create .venv if missing, run the whole test suite
#   make new-study ID=smith2024   scaffold resources/studies/smith2024/ and list what to fill
# Pass Snakemake options with ARGS, e.g. make results ARGS="--configfile other.yaml".
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
ARGS ?=

.PHONY: results test bench lint report clean new-study

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

results: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) $(ARGS)
	$(BIN)/snakemake --cores $(CORES) $(ARGS) --report results/report.html

test: $(BIN)/.installed
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/engine.py engine results/benchmarks/engine.json
	$(BIN)/python benchmarks/harmonize.py results/benchmarks/harmonize.json

# Scaffold a study folder for a reviewer and list what to fill: make new-study ID=smith2024
new-study: $(BIN)/.installed
	@test -n "$(ID)" || { echo "usage: make new-study ID=<surname><year>, e.g. ID=smith2024" >&2; exit 2; }
	$(BIN)/python -m evsynth new-study $(ID)

clean:
	rm -rf results logs .snakemake
