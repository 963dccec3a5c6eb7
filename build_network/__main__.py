"""Command line: ``python -m build_network [--n-cells N] [--seed S] [--out DIR] [--force] [--compression C]``."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from common.errors import UserError, run_cli
from common.files import check_output_dir

from . import params
from .background import BACKGROUND_FILE, POOL_FILE
from .build import COMPRESSIONS, DEFAULT_MODEL, MODELS, RULES, ModelSpec, build_network


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m build_network",
        description="Build the V1 (L2/3) + LGN network of the seed model as SONATA files in --out.")
    parser.add_argument("--n-cells", type=int, default=None,
                        help="number of V1 cells; all populations scale with their fractions "
                             "(default: n_cells of build_network/column.json, 10000)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("network"), help="output folder (default network/)")
    parser.add_argument("--force", action="store_true", help="replace an --out folder that already holds files")
    parser.add_argument("--rule", choices=RULES, default="fast",
                        help="'fast' vectorized rules (default) or the seed's per-pair 'reference' rules (slow)")
    parser.add_argument("--compression", choices=COMPRESSIONS, default="none",
                        help="HDF5 compression of the .h5 files: 'none' (default: fastest to write and read) or "
                             "'gzip' (bmtk's default: about 4x smaller, slower); the content is the same")
    parser.add_argument("--model", choices=list(MODELS), default=DEFAULT_MODEL,
                        help=f"'background': V1 with a background population and physiological LGN synapses; "
                             f"'seed': the seed's model, driven by the LGN alone (default {DEFAULT_MODEL}). Sets "
                             "the weight scales and the background files unless given below")
    parser.add_argument("--populations", type=Path, default=params.POPULATIONS_FILE)
    parser.add_argument("--v1-connections", type=Path, default=params.V1_CONNECTIONS_FILE)
    parser.add_argument("--lgn-connections", type=Path, default=params.LGN_CONNECTIONS_FILE)
    parser.add_argument("--column", type=Path, default=params.COLUMN_FILE)
    parser.add_argument("--weight-scales", type=Path, help="default: the --model's")
    parser.add_argument("--background", type=Path, help=f"default {BACKGROUND_FILE.name} (background model)")
    parser.add_argument("--background-pool", type=Path, help=f"default {POOL_FILE.name} (background model)")
    args = parser.parse_args(argv)
    logging.getLogger("bmtk").setLevel(logging.ERROR)
    try:
        check_output_dir(args.out)
        params.check_seed(args.seed)
        if args.n_cells is not None:
            params.check_n_cells(args.n_cells)
        model = MODELS[args.model]
        background = None
        if model["background"]:
            background = (args.background or BACKGROUND_FILE, args.background_pool or POOL_FILE)
        spec = ModelSpec.load(args.populations, args.v1_connections, args.lgn_connections, args.column,
                              args.weight_scales or model["weight_scales"], background)
        start = time.perf_counter()
        info = build_network(args.out, n_cells=args.n_cells, seed=args.seed, spec=spec, rule=args.rule,
                             force=args.force, compression=args.compression)
    except (UserError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{k} {v}" for k, v in info["population_sizes"].items())
    bkg = info["background"]
    extra = "" if bkg is None else f", {sum(bkg['n_sources'].values())} background sources"
    print(f"built the {args.model} model: {info['n_cells']} V1 cells ({sizes}), {info['lgn_n_cells']} LGN cells"
          f"{extra}, "
          f"seed {info['seed']}, column radius {info['column_radius_um']:.1f} um, "
          f"in {time.perf_counter() - start:.1f} s -> {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
