# Two commands for a newcomer:  `make run`  and  `make test`.
# Both create .venv/ on first use and reinstall when pyproject.toml changes; the install includes PymoNNtorch and
# the CPU build of torch (the extra `pymonntorch`: 764 MB here, docs/studies.md), which the single-neuron study's
# second simulator and its tests need.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NETWORK_FILES := network/V1_nodes.h5 network/V1_node_types.csv network/LGN_nodes.h5 network/LGN_node_types.csv \
                 network/V1_V1_edges.h5 network/V1_V1_edge_types.csv network/LGN_V1_edges.h5 network/LGN_V1_edge_types.csv \
                 network/BKG_nodes.h5 network/BKG_node_types.csv network/BKG_V1_edges.h5 network/BKG_V1_edge_types.csv

.PHONY: run test test-fast install network bench bench-allen lint mpi-env timers-env

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,pymonntorch]"
	touch $(STAMP)

install: $(STAMP)

# Build the default network (the background model) only when network/ is empty or absent: a network the user
# built by hand (e.g. `python -m build_network --n-cells 2000`) is never overwritten by `make run`; a network/
# without the background files (the seed's model, built before the background model became the default) stops
# `make run` with the command that replaces it.
network: install
	@missing=0; for f in $(NETWORK_FILES); do [ -f $$f ] || missing=1; done; \
	if [ $$missing = 0 ]; then echo "network/ is complete: not rebuilding (python -m build_network --out network --force to rebuild)"; \
	elif [ -d network ] && [ -n "$$(ls -A network)" ]; then \
	  echo "network/ holds files but not the default model's (its background population is missing: an older or hand-built network)."; \
	  echo "Keep it with: mv network network_seed   (config_seed.json runs it), or replace it with: $(PY) -m build_network --out network --force"; exit 2; \
	else echo "network/ is missing: building the default 10,000-cell network (the background model)"; \
	  $(PY) -m build_network --out network; fi

# LGN spike trains: made when missing or older than the committed rate table.
inputs/lgn_spikes.h5: inputs/lgn_rates.csv inputs/lgn_rates_quantiles.csv config.json | $(STAMP)
	$(PY) -m inputs spikes --out $@

# The background sources' spike trains: made when missing or older than config.json.
inputs/bkg_spikes.h5: config.json | network $(STAMP)
	$(PY) -m inputs background --out $@

# The main job: the 3 s simulation of config.json on NEST (output/spikes.h5 and a per-population summary),
# then the model-versus-data report (output/report.html).
run: network inputs/lgn_spikes.h5 inputs/bkg_spikes.h5
	$(PY) run_pointnet.py config.json
	$(PY) -m analysis report output

# Every test, the slow ones too (CI runs this: .ci/run). The slow tests (@pytest.mark.slow: the full-size 10,000-cell
# runs and tests of more than about 20 s) are left out by `make test-fast` (pytest -m "not slow").
test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

# The benchmark tables: benchmarks/results.md (builds, scaling, simulation; figures/), stimulus_results.md and
# precise_results.md (precise vs grid, the perturbation suite as 1 worker x 2 threads and 2 workers x 1 thread, and
# NEST's kernel timers when .venv-timers/ exists: make timers-env), neurons_results.md (the single-neuron study on
# NEST against PymoNNtorch: 1 neuron, 10,000 neurons, GPU when present). benchmarks builds every network it measures in
# a temporary folder; benchmarks.precise runs config_seed.json (network_seed/) and leaves it untouched.
bench: install
	$(PY) -m benchmarks
	$(PY) -m benchmarks.stimulus
	$(PY) -m benchmarks.precise
	$(PY) -m benchmarks.neurons

# The Allen-size column (230,924 cells, Billeh et al. 2020's count): build, then 1 s at dt 0.1 ms on 2 threads, time
# and peak memory (about 5 minutes, 15 GB) into benchmarks/allen_size/; not part of `make bench`.
bench-allen: install
	$(PY) -m benchmarks --sections large --large-cells 230924 --out benchmarks/allen_size

lint: install
	$(PY) -m ruff check .

# NEST 3.10 with MPI, built from its source release against Debian's Open MPI into .venv-mpi/ (about 20-30 min on
# 2 cores; not part of `make test`): then mpirun -n K .venv-mpi/bin/python run_pointnet.py config.json
mpi-env:
	bash scripts/build_mpi_nest.sh .venv-mpi

# The same NEST with its detailed kernel timers (time_update, time_deliver_spike_data, ...) into .venv-timers/:
# benchmarks.precise reads them for the table's breakdown when this environment exists.
timers-env:
	NEST_DETAILED_TIMERS=1 bash scripts/build_mpi_nest.sh .venv-timers
