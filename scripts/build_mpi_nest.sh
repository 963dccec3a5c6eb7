#!/usr/bin/env bash
# Build NEST 3.10 with MPI from its source release into a separate environment (default .venv-mpi/), against
# Debian's Open MPI, with mpi4py and bmtk: what `mpirun -n K python run_pointnet.py config.json` needs.
# Not part of `make test` (about 20-30 minutes on 2 cores; --no-cache-dir: pip would reuse a wheel built with other
# settings). Usage: bash scripts/build_mpi_nest.sh [ENV_DIR]
# With NEST_DETAILED_TIMERS=1 NEST is also built with -Dwith-detailed-timers=ON (time_update, time_deliver_spike_data,
# time_gather_spike_data, ... in GetKernelStatus): `make timers-env` builds such a NEST into .venv-timers/ for the
# benchmark table's breakdown of where a simulation's time goes (the timers cost a little speed, so not in .venv-mpi/).
set -euo pipefail
cd "$(dirname "$0")/.."
ENV_DIR="${1:-.venv-mpi}"
PYTHON="${PYTHON:-python3}"

if ! command -v mpicc >/dev/null || ! command -v cmake >/dev/null || [ ! -e /usr/include/gsl/gsl_rng.h ]; then
  echo "installing the build dependencies from Debian (openmpi-bin libopenmpi-dev cmake libgsl-dev libltdl-dev libboost-dev)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev cmake libgsl-dev libltdl-dev \
    libboost-dev build-essential
fi
test -x "$ENV_DIR/bin/python" || "$PYTHON" -m venv "$ENV_DIR"
"$ENV_DIR/bin/python" -m pip install --quiet --upgrade pip
TIMERS=()
if [ "${NEST_DETAILED_TIMERS:-0}" = 1 ]; then TIMERS=(--config-settings=cmake.define.with-detailed-timers=ON); fi
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
echo "building nest-simulator 3.10 with MPI from source (CMAKE_BUILD_PARALLEL_LEVEL=$CMAKE_BUILD_PARALLEL_LEVEL) ..."
# pandas < 3: with pandas 3 (string columns of dtype str) bmtk 1.2.0's node-type lookup (types_table.find) matches
# nothing, so a node set such as {"pop_name": "LIF_exc"} selects no cell and a current clamp on it fails
"$ENV_DIR/bin/python" -m pip install --no-cache-dir --no-binary nest-simulator --config-settings=cmake.define.with-mpi=ON "${TIMERS[@]}" \
  "nest-simulator==3.10.*" mpi4py "bmtk==1.2.0" h5py "pandas<3" scipy tqdm matplotlib jinja2
# the project's own packages, without the AllenSDK pins (not needed to run a simulation)
"$ENV_DIR/bin/python" -m pip install --quiet --no-deps -e .
"$ENV_DIR/bin/python" - <<'PY'
import nest
info = nest.GetKernelStatus("build_info")
assert info["have_mpi"], "NEST was built without MPI"
timers = [k for k in nest.GetKernelStatus() if k.startswith("time_")]
print("kernel timers:", ", ".join(sorted(timers)))
print(f"NEST {info['version']} with MPI in {nest.__path__[0]}")
PY
echo "done: mpirun -n 2 $ENV_DIR/bin/python run_pointnet.py config.json (n_thread 1 per rank)"
