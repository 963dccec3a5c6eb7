"""Run the V1 model on NEST through bmtk's PointNet: ``python run_pointnet.py [config.json]``.

The seed's four lines (Config.from_json, build_env, PointNetwork.from_config, PointSimulator.from_config, run)
live in :func:`simulation.run.simulate`, with the configuration checked first and missing inputs built.

One network over K processes: ``mpirun -n K python run_pointnet.py config.json`` with NEST built with MPI
(``environment-mpi.yml``). Started by an MPI launcher with a NEST without MPI, it stops before writing anything,
with exit code 2, instead of running K copies of the whole model (:mod:`simulation.mpi`).
"""

import argparse
import sys
from pathlib import Path

from analysis.rates import print_summary
from common.errors import run_cli
from simulation import ConfigError, simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a PointNet configuration on NEST.")
    parser.add_argument("config", nargs="?", type=Path, default=Path("config.json"), help="default config.json")
    parser.add_argument("--no-build", action="store_true",
                        help="do not build a missing network or LGN spikes file: stop with the command that makes it")
    parser.add_argument("--kernel-timers", type=Path, metavar="FILE",
                        help="after the run, write NEST's kernel timers (every time_* of GetKernelStatus) to FILE "
                             "as JSON; per-thread timers need a NEST built with -Dwith-detailed-timers=ON "
                             "(make timers-env)")
    args = parser.parse_args(argv)
    try:
        simulate(args.config, build_missing=not args.no_build, summary=print_summary,
                 kernel_timers_file=args.kernel_timers)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
