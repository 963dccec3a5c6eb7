"""Tuning: the score, the acceptance test, and an evaluation that writes exactly the builder's weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import read_edges

from build_network import ModelSpec, build_network
from build_network.params import weight_scale_keys
from calibration.tune import Evaluator, meets_criteria, tune, tuning_loss


def _summary(medians, max_rate=20.0, cv=0.9, active=1.0):
    pops = ["LIF_exc", "PV", "SST", "VIP"]
    reference = [0.63, 7.35, 3.82, 14.73]
    summary = pd.DataFrame({"median_rate_hz": medians, "reference_median_hz": reference,
                            "max_rate_hz": max_rate, "frac_active": active, "mean_isi_cv": cv}, index=pops)
    summary["ratio"] = summary.median_rate_hz / summary.reference_median_hz
    return summary


def test_loss_is_zero_at_the_reference_and_grows_away_from_it():
    at = tuning_loss(_summary([0.63, 7.35, 3.82, 14.73]), 2000.0)
    assert at == pytest.approx(0.0)
    assert tuning_loss(_summary([1.26, 7.35, 3.82, 14.73]), 2000.0) > at
    assert tuning_loss(_summary([2.5, 7.35, 3.82, 14.73]), 2000.0) > tuning_loss(_summary([1.26, 7.35, 3.82, 14.73]),
                                                                                    2000.0)
    assert tuning_loss(_summary([0.63, 7.35, 3.82, 14.73], max_rate=300.0), 2000.0) > 1.0
    assert tuning_loss(_summary([0.63, 7.35, 3.82, 14.73], cv=0.2), 2000.0) > 0.05


def test_acceptance_criteria():
    assert all(meets_criteria(_summary([0.63, 7.35, 3.82, 14.73])).values())
    checks = meets_criteria(_summary([1.4, 7.35, 11.0, 5.0], cv=0.3))
    assert not checks["LIF_exc median within x2"] and checks["SST median within x3"]
    assert checks["VIP median within x3"] and not checks["E ISI CV in [0.5, 1.5]"]
    assert not meets_criteria(_summary([0.63, 7.35, 3.82, 14.73], max_rate=150.0))["no population above 100 Hz"]


def test_evaluations_use_the_builders_weights(tmp_path):
    """An evaluation's edge types are what build_network writes with the same scales; tune() runs end to end."""
    evaluator = Evaluator(tmp_path / "work", n_cells=300, tstop_ms=100.0, dt_ms=0.1)
    spec = ModelSpec.load()
    scales = {k: 1.0 + 0.1 * i for i, k in enumerate(weight_scale_keys(spec.populations))}
    summary = evaluator(scales)
    assert list(summary.index) == ["LIF_exc", "PV", "SST", "VIP"]
    scaled = ModelSpec(spec.populations, spec.v1_connections, spec.lgn_connections, spec.column, scales)
    build_network(tmp_path / "ref", n_cells=300, seed=0, spec=scaled, progress=False)
    for name in ("V1_V1_edge_types.csv", "LGN_V1_edge_types.csv"):
        got = pd.read_csv(tmp_path / "work" / "eval_000" / "network" / name, sep=" ").set_index("edge_type_id")
        want = pd.read_csv(tmp_path / "ref" / name, sep=" ").set_index("edge_type_id")
        assert np.allclose(got.syn_weight, want.syn_weight.reindex(got.index), rtol=1e-12)
    assert len(read_edges(tmp_path / "work" / "eval_000" / "network", "V1", "V1")) == len(
        read_edges(tmp_path / "ref", "V1", "V1"))
    best = tune(evaluator, scales, max_evals=3, progress=lambda line: None)
    assert len(evaluator.history) >= 4 and set(best) == set(scales)
    assert min(r["loss"] for r in evaluator.history) == tuning_loss(
        min(evaluator.history, key=lambda r: r["loss"])["summary"], 100.0)


@pytest.mark.slow
def test_committed_scales_meet_the_criteria_at_full_size(tmp_path):
    """The seed model's baseline (config_seed.json: 10,000 cells, 3 s) meets every acceptance criterion."""
    import json
    import subprocess
    import sys

    from helpers import REPO

    from analysis.rates import run_summary
    from inputs.spikes import lgn_node_ids, lookup_rate, write_spikes

    config = json.loads((REPO / "config_seed.json").read_text())
    build_network(tmp_path / "network", seed=0, progress=False)
    ids = lgn_node_ids(tmp_path / "network", 500)
    lgn = config["lgn_input"]
    rate = lookup_rate(lgn["genotype"], lgn["stimulus"], lgn["qc"])
    write_spikes(tmp_path / "lgn_spikes.h5", ids, np.full(len(ids), rate), config["run"]["tstop"], lgn["seed"],
                 config["run"]["dt"])
    config["manifest"].update({"$BASE_DIR": str(tmp_path), "$NETWORK_DIR": str(tmp_path / "network"),
                               "$COMPONENTS_DIR": str(REPO / "components"), "$OUTPUT_DIR": str(tmp_path / "output")})
    config["inputs"]["LGN_spikes"]["input_file"] = str(tmp_path / "lgn_spikes.h5")
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = subprocess.run([sys.executable, str(REPO / "run_pointnet.py"), str(tmp_path / "config.json"),
                             "--no-build"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    from simulation.run import load_config

    summary = run_summary(load_config(tmp_path / "config.json", build_missing=False), tmp_path / "output" / "spikes.h5")
    checks = meets_criteria(summary)
    assert all(checks.values()), (checks, summary.to_string())
