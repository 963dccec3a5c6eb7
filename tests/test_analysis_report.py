"""The HTML report: every figure present and decodable, the comparison table complete, perturbations included."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from report_page import parse_report

from analysis.__main__ import main
from analysis.criticality import REGIMES
from analysis.rates import read_spikes

FIGURE_IDS = {"raster", "population-rates", "comparison", "rate-distributions", "isi-cv", "network"}


def _fake_suite(folder):
    """A perturbation-suite folder as ``python -m perturbations run`` leaves it: summary.csv and rates.png."""
    folder.mkdir()
    pd.DataFrame({"perturbation": ["baseline", "PV_excite"], "population": ["PV", "PV"],
                  "median_rate_hz": [6.0, 30.0]}).to_csv(folder / "summary.csv", index=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(folder / "rates.png")
    plt.close(fig)


def test_report_of_a_nest_run(tiny_run, capsys):
    _, out, _ = tiny_run
    _fake_suite(out / "perturbations")
    assert main(["report", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    page = parse_report(out / "report.html")
    assert FIGURE_IDS <= set(page.figures) and "perturbations-rates.png" in page.figures
    for name, image in page.figures.items():
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, name
        assert image[..., :3].std() > 0.01, f"{name} is blank"
    comparison = [r for r in page.rows if len(r) == 11 and r[1] in ("flash", "gratings", "spontaneous")]
    populations = {"LIF_exc", "PV", "SST", "VIP"}
    assert len(comparison) == 4 * 3 + 4  # model x 3 conditions, then the peer under gratings
    assert {r[0] for r in comparison} == populations
    assert any(r[0] == "PV_excite" for r in page.rows)  # the perturbation table
    table = pd.read_csv(out / "comparison.csv")
    assert set(table.population) == populations and len(table) == 12
    assert {p.name for p in (out / "figures").iterdir()} - {"avalanches.png"} == {
        "raster.png", "population_rates.png", "comparison.png", "rate_distributions.png", "isi_cv.png", "network.png"}
    assert not list(out.glob(".*tmp*")) and not list(out.glob(".figures*"))
    criticality = pd.read_csv(out / "criticality.csv")
    assert criticality.run.iloc[0] == f"{out.name} (baseline)"
    assert criticality.n_spikes.iloc[0] == len(read_spikes(out / "spikes.h5", "V1"))
    assert set(criticality.regime) <= set(REGIMES)
    assert any(r and r[0] == f"{out.name} (baseline)" for r in page.rows)  # the criticality table


def test_report_of_a_run_with_a_silent_population(hand_run):
    """Populations that are not the V1 model's (E, I here), one of them silent: figures still drawn, no table rows,
    no model-versus-data figure (nothing is compared)."""
    assert main(["report", str(hand_run)]) == 0
    page = parse_report(hand_run / "report.html")
    assert FIGURE_IDS - {"comparison"} == set(page.figures) - {"avalanches"}
    assert [r[7] for r in page.rows if r and r[0] in ("E", "I") and len(r) == 9] == ["no reference"] * 2
    assert not (hand_run / "perturbations").exists()
    assert any("No perturbation suite found" in line for line in (hand_run / "report.html").read_text().splitlines())


@pytest.mark.slow
def test_report_includes_stimulus_runs(tiny_run, tiny_config, tmp_path):
    """A flash and a (reduced) gratings run under OUTPUT_DIR/stimulus/: table rows, PSTH, tuning and metric figures."""
    import json
    import shutil

    from analysis.stimulus import run_condition
    from inputs.stimuli import STIMULI_FILE

    out = tmp_path / "output"
    shutil.copytree(tiny_run[1], out)
    protocol = json.loads(STIMULI_FILE.read_text())
    protocol["gratings"].update({"directions_deg": [0, 90, 180, 270], "temporal_frequencies_hz": [4.0]})
    (tmp_path / "protocol.json").write_text(json.dumps(protocol))
    run_condition("flash", out / "stimulus" / "flash", config_path=tiny_config, trials=3, progress=False)
    run_condition("gratings", out / "stimulus" / "gratings", config_path=tiny_config, trials=3, progress=False,
                  protocol_path=tmp_path / "protocol.json")
    assert main(["report", str(out)]) == 0
    page = parse_report(out / "report.html")
    for name in ("stimulus-flash-psth", "stimulus-flash-metrics", "stimulus-gratings-tuning",
                 "stimulus-gratings-metrics"):
        assert name in page.figures, name
        assert page.figures[name][..., :3].std() > 0.01, f"{name} is blank"
    rows = [r for r in page.rows if len(r) == 10 and r[1] in ("firing_rate_fl", "g_osi_dg")]
    assert {r[0] for r in rows} == {"LIF_exc", "PV", "SST", "VIP", "tON"}
    assert any(r[0] == "tON" and r[1] == "firing_rate_fl" and r[5].startswith("lgd") for r in rows)
    text = (out / "report.html").read_text()
    assert "untuned" in text and "Far from the data" in text
