"""benchmarks.neurons: a --quick run end to end (100 neurons, a 300 ms trace; no timing is asserted) and the
committed table as the rendering of the committed results."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO

from benchmarks.neurons import MODELS, render


def test_quick_run_end_to_end(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.neurons", "--quick", "--out", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    results = json.loads((tmp_path / "neurons_results.json").read_text())
    assert results["quick"] is True and results["torch"].startswith("2.13")
    import torch

    assert results["gpu"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available()
                              else "none (torch.cuda.is_available() is False)")
    assert {r["device"] for r in results["rows"]} == ({"cpu", "cuda"} if torch.cuda.is_available() else {"cpu"})
    rows = results["rows"]
    assert [(r["workload"], r["model"]) for r in rows if r["device"] == "cpu"] == (
        [("one neuron", m) for m in MODELS] + [("100 neurons", m) for m in MODELS])
    for r in rows:
        assert r["nest_s"] > 0 and r["pymonntorch_s"] > 0 and len(r["walls_s"]["nest"]) == results["repeats"]
        if r["neurons"] == 1:
            assert r["spikes_nest"] == r["spikes_pymonntorch"] > 0  # a 700 pA step makes both fire alike
        else:
            assert r["firing_nest"] > 0 and r["within_1pct"] > 0.9
    assert (tmp_path / "neurons_results.md").read_text() == render(results)


def test_the_committed_table_is_the_rendering_of_the_committed_results():
    results = json.loads((REPO / "benchmarks" / "neurons_results.json").read_text())
    assert results["quick"] is False and {r["neurons"] for r in results["rows"]} == {1, 10_000}
    assert (REPO / "benchmarks" / "neurons_results.md").read_text() == render(results)
