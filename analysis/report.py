"""The model-versus-data report of a run: one self-contained HTML page (figures embedded as PNG).

``python -m analysis report OUTPUT_DIR`` writes ``OUTPUT_DIR/report.html``, the figures as PNG files in
``OUTPUT_DIR/figures/`` and the comparison table as ``OUTPUT_DIR/comparison.csv``. Each is written under a
temporary name and renamed when complete.

Any bmtk PointNet run can be reported, the project's or anyone else's. A population is compared with the mouse data
(and its tuning target shown) only when its network is the project's own (``build_info.json`` of
``python -m build_network`` beside its nodes) and its pop_name is a model population (``common/populations.csv``);
every other population is shown as ``no reference``, whatever its name. What the page says of the run's input and
model (the LGN rates, the tuning, the peer model, the commands that extend the report) is said only of the project's
model, from the run's own configuration.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from . import figures
from .compare import N_BOOT, compare_model, compare_peer
from .criticality import analyse_spikes
from .rates import BUILD_INFO, NO_REFERENCE, Run, load_run, population_summary
from .reference import (
    MIN_UNITS,
    PREFERENCE,
    condition_of,
    load_rates,
    load_summary,
)

TEMPLATE = Path(__file__).resolve().parent / "report.html.j2"
SMALL_SAMPLE = 10
PERTURBATION_FIGURES = {"rates.png": "median rate change per population and perturbation",
                        "rasters.png": "rasters of the baseline and each perturbation"}


@dataclass
class Figure:
    """A figure of the report: anchor name, caption, base64 PNG."""

    name: str
    caption: str
    data: str


def _encode(path: Path) -> str:
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(mid: float, lo: float, hi: float) -> str:
    return "n/a" if not np.isfinite(mid) else f"{mid:.2f} [{lo:.2f}, {hi:.2f}]"


def _pct(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.0%}"


def comparison_rows(comparison: pd.DataFrame, condition: str | None) -> dict:
    """The comparison as report rows: (formatted cells, highlighted?)."""
    columns = ["population", "condition", "reference", "n model", "n data", "model median Hz", "data median Hz",
               "model / data", "KS log rate (p)", "zero: model", "zero: data"]
    rows = []
    for _, r in comparison.iterrows():
        reference = "none with enough units" if r.source == "none" else f"{r.source} {r.layer}"
        if r.source != "none" and r.n_data < SMALL_SAMPLE:
            reference += " (small sample)"
        ks = "n/a" if not np.isfinite(r.ks_log_rate) else f"{r.ks_log_rate:.2f} ({r.ks_p:.2g})"
        rows.append(([r.population, r.condition, reference, int(r.n_model), int(r.n_data),
                      _interval(r.model_median_hz, r.model_lo_hz, r.model_hi_hz),
                      _interval(r.data_median_hz, r.data_lo_hz, r.data_hi_hz),
                      _interval(r.ratio, r.ratio_lo, r.ratio_hi), ks, _pct(r.model_zero_frac),
                      _pct(r.data_zero_frac)], r.condition == condition))
    return {"columns": columns, "rows": rows}


def _population_rows(summary: pd.DataFrame) -> dict:
    """The population table; a population without a reference says so (:data:`analysis.rates.NO_REFERENCE`)."""
    targets = summary.reference_median_hz.notna().any()
    columns = ["population", "cells", "active", "mean Hz", "median Hz", "max Hz", "mean ISI CV",
               *(("tuning target Hz", "median / target") if targets else ("reference Hz", "median / reference"))]
    rows = [[pop, int(r.n_cells), _pct(r.frac_active), _fmt(r.mean_rate_hz), _fmt(r.median_rate_hz),
             _fmt(r.max_rate_hz, 1), _fmt(r.mean_isi_cv)]
            + ([_fmt(r.reference_median_hz), _fmt(r.ratio)] if np.isfinite(r.reference_median_hz)
               else [NO_REFERENCE, ""])
            for pop, r in summary.iterrows()]
    return {"columns": columns, "rows": rows}


def find_perturbations(output_dir: Path) -> list[Path]:
    """Perturbation-suite folders directly inside ``output_dir`` (those holding ``summary.csv`` or ``sweep_*.csv``)."""
    return sorted(d for d in Path(output_dir).iterdir()
                  if d.is_dir() and ((d / "summary.csv").is_file() or any(d.glob("sweep_*.csv"))))


def perturbation_section(folder: Path) -> list[dict]:
    """Tables and figures of one perturbation-suite folder (its summary and any sweeps)."""
    sections = []
    tables = [(folder / "summary.csv", "current-clamp perturbations", list(PERTURBATION_FIGURES))]
    tables += [(t, f"dose-response sweep of {t.stem.removeprefix('sweep_')}", [f"{t.stem}.png"])
               for t in sorted(folder.glob("sweep_*.csv"))]
    for table_path, title, pictures in tables:
        if not table_path.is_file():
            continue
        table = pd.read_csv(table_path)
        rows = [[v if isinstance(v, str) else _fmt(float(v)) for v in row] for row in table.itertuples(index=False)]
        figs = [Figure(f"{folder.name}-{name}", PERTURBATION_FIGURES.get(name, title), _encode(folder / name))
                for name in pictures if (folder / name).is_file()]
        sections.append({"title": f"{title} ({table_path})", "table": {"columns": list(table.columns), "rows": rows},
                         "figures": figs})
    return sections


CRITICALITY_COLUMNS = {"run": "run", "n_spikes": "spikes", "bin_ms": "bin (ms)", "n_avalanches": "avalanches",
                       "branching_ratio_mr": "m MR", "branching_ratio_naive": "m naive", "tau_ms": "tau (ms)",
                       "size_alpha": "size alpha", "duration_alpha": "duration alpha",
                       "llr_lognormal": "LLR vs lognormal", "p_lognormal": "p", "regime": "regime"}


def criticality_table(results: dict[str, dict]) -> pd.DataFrame:
    """One row per run of its :func:`analysis.criticality.analyse_spikes` result (columns of CRITICALITY_COLUMNS)."""
    rows = [{"run": name, **{k: result.get(k) for k in CRITICALITY_COLUMNS if k != "run"}}
            for name, result in results.items()]
    return pd.DataFrame(rows, columns=list(CRITICALITY_COLUMNS))


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return ""
    return f"{int(value):,}" if float(value).is_integer() and abs(value) >= 10 else _fmt(float(value), 3)


def perturbation_runs(folders: list[Path]) -> dict[str, Path]:
    """The spikes files of the finished runs of perturbation-suite folders, named folder/run."""
    return {f"{folder.name}/{spikes.parent.name}": spikes for folder in folders
            for spikes in sorted(folder.glob("*/spikes.h5"))}


STIMULUS_NOTES = (
    "The LGN is 500 identical-in-kind tON cells with full-field input: untuned, so nothing in the input can give V1 "
    "orientation or direction selectivity; any g_osi_dg / g_dsi_dg above zero is trial noise of a finite number "
    "of spikes (the Allen V1 model gets its tuning from LGN subunits and tuned recurrent weights, which this "
    "model does not have).",
    "FilterNet's tON_TF8 filter has no retinal latency: its responses peak about 18 ms after a flash onset, where "
    "LGd units peak at 45-75 ms; V1's time_to_peak_fl follows its input.",
    "on_off_ratio_fl has no data side (empty for every released unit); the LGd reference mixes ON and OFF units "
    "(they cannot be told apart in the tables).",
)


def find_stimulus_runs(output_dir: Path) -> list[Path]:
    """Stimulus-condition folders (``python -m analysis stimulus``) in ``output_dir/stimulus/``, then those of the
    seed's model in ``output_dir/seed/stimulus/`` (``config_seed.json``'s runs), so the report shows both."""
    runs = []
    for folder in (Path(output_dir) / "stimulus", Path(output_dir) / "seed" / "stimulus"):
        if folder.is_dir():
            runs += sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
                           and (d / "unit_metrics.csv").is_file() and (d / "comparison.csv").is_file())
    return runs


def spontaneous_lines(folder: Path) -> list[str]:
    """The acceptance test and correlations of a gray run (``spontaneous.json``, ``variability.csv``), as lines."""
    path = Path(folder) / "spontaneous.json"
    if not path.is_file():
        return []
    result = json.loads(path.read_text())
    lines = [f"{'pass' if ok else 'FAIL'}: {name}" for name, ok in result["criteria"].items()]
    lines.append(f"median ISI CV of E cells with >= 5 spikes {result['e_isi_cv']:.2f} ({result['n_e_cells_cv']} "
                 f"cells; {result['e_isi_cv_relative_to_poisson']:.2f} of Poisson trains with the same counts)")
    variability = Path(folder) / "variability.csv"
    if variability.is_file():
        table = pd.read_csv(variability)
        corr = table[table.measure == "count_correlation"]
        lines += [f"spike-count correlation {r.group_a}-{r.group_b} at {r.bin_ms:g} ms: mean {r.value:.4f} "
                  f"({int(r.n)} pairs)" for r in corr.itertuples()]
        pop = table[table.measure == "population_fano"]
        lines += [f"population spike-count Fano factor {r.group} at {r.bin_ms:g} ms: {r.value:.1f}"
                  for r in pop.itertuples()]
    lines += [f"published: {p['measure']} {p['value']} ({p['source']})" for p in result.get("published", [])]
    return lines


def _metric_cell(value: float) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:.3g}"


def stimulus_section(folder: Path, figures_dir: Path) -> dict:
    """Table, figures and notes of one stimulus-condition folder; figures are drawn into ``figures_dir``."""
    folder = Path(folder)
    info = json.loads((folder / "run_info.json").read_text()) if (folder / "run_info.json").is_file() else {}
    name = info.get("condition", folder.name)
    comparison = pd.read_csv(folder / "comparison.csv")
    units = pd.read_csv(folder / "unit_metrics.csv")
    # as in the comparison: a silent cell is never a sorted unit
    metrics = units[units.n_spikes > 0] if "n_spikes" in units else units
    presentations = pd.read_csv(folder / "stimulus_presentations.csv")
    columns = ["population", "metric", "unit", "n model", "model median [95% CI]", "reference", "n data",
               "data median [IQR]", "KS", "inside IQR"]
    rows = []
    for r in comparison.itertuples():
        has_data = r.source != "none"
        inside = "" if pd.isna(r.inside_iqr) else ("yes" if str(r.inside_iqr) in ("True", "true", "1") else "no")
        rows.append(([r.pop_name, r.metric, "" if pd.isna(r.unit) else r.unit, int(r.n_model),
                      f"{_metric_cell(r.model_median)} [{_metric_cell(r.model_lo)}, {_metric_cell(r.model_hi)}]",
                      f"{r.source} {r.layer}" if has_data else f"none: {r.note}", int(r.n_data) if has_data else 0,
                      f"{_metric_cell(r.data_median)} [{_metric_cell(r.data_q25)}, {_metric_cell(r.data_q75)}]"
                      if has_data else "-", _metric_cell(r.ks), inside], inside == "no"))
    tag = f"stimulus-{folder.name}"
    made = []
    spikes = folder / "spikes.h5"
    if (presentations.stimulus_name == "flashes").any():
        made.append((f"{tag}-psth", f"{name}: PSTHs around white and black flash onsets per population, the LGN "
                     "beside them (10 ms bins, mean rate per cell).",
                     figures.plot_flash_psth(spikes, units, presentations, figures_dir / f"{tag}_psth.png")))
    if (presentations.stimulus_name == "drifting_gratings").any():
        made.append((f"{tag}-tuning", f"{name}: direction tuning curves (mean rate per cell during the gratings).",
                     figures.plot_direction_tuning(spikes, units, presentations, figures_dir / f"{tag}_tuning.png")))
    dist = figures.plot_metric_distributions(metrics, comparison, figures_dir / f"{tag}_metrics.png")
    if dist is not None:
        made.append((f"{tag}-metrics", f"{name}: metric distributions, model against data (AllenSDK's definitions "
                     "on both sides).", dist))
    outside = comparison[comparison.inside_iqr.astype(str).isin(["False", "false", "0"])]
    far = [f"{r.pop_name} {r.metric}: model {_metric_cell(r.model_median)} vs data {_metric_cell(r.data_median)} "
           f"[{_metric_cell(r.data_q25)}, {_metric_cell(r.data_q75)}]" for r in outside.itertuples()]
    return {"title": f"{name} ({folder})", "info": info, "table": {"columns": columns, "rows": rows},
            "figures": [Figure(n, c, _encode(p)) for n, c, p in made], "far": far,
            "spontaneous": spontaneous_lines(folder)}


def _inputs_line(config: dict) -> str:
    """The run's inputs as its configuration names them: name (module, node set, file name)."""
    parts = []
    for name, spec in (config.get("inputs") or {}).items():
        if isinstance(spec, dict):
            what = [str(spec.get("module", "?")), str(spec.get("node_set", ""))]
            if isinstance(spec.get("input_file"), str):
                what.append(Path(spec["input_file"]).name)
            parts.append(f"{name} ({', '.join(w for w in what if w)})")
    return "; ".join(parts) or "none"


def _run_info(run: Run, condition: str | None) -> list[tuple[str, str]]:
    """The run's facts, each read from its own configuration and network."""
    counts = run.cells.groupby("pop_name", sort=False).size()
    info = [("output folder", str(run.output_dir)), ("spikes file", str(run.spikes_file)),
            ("analysis window", f"({run.tstart_ms:g}, {run.tstop_ms:g}] ms"),
            ("time step", f"{run.config['run'].get('dt', 'n/a')} ms"),
            ("cells", ", ".join(f"{p} {n:,}" for p, n in counts.items()) + f" (total {len(run.cells):,})"),
            ("spikes", f"{len(run.spikes):,}"),
            ("inputs", _inputs_line(run.config))]
    lgn = run.config.get("lgn_input")
    if isinstance(lgn, dict):
        info.append(("LGN input", ", ".join(f"{k} {v}" for k, v in lgn.items()) or "the defaults"))
    unreferenced = [p for p in counts.index if p not in run.referenced]
    if condition is not None:
        info.append(("compared with", f"{condition} (override with --condition)"))
    if unreferenced:
        info.append((NO_REFERENCE, f"{', '.join(unreferenced)}: " + (
            "not populations of the project's V1 model (common/populations.csv)" if run.project_populations else
            f"the network is not the project's (no {BUILD_INFO} of python -m build_network beside its nodes), so "
            "none of its populations is compared with the mouse data")))
    for entry in run.config.get("networks", {}).get("nodes", []):
        build_info = Path(entry["nodes_file"]).parent / BUILD_INFO
        if build_info.is_file():
            built = json.loads(build_info.read_text())
            info.append(("network", ", ".join(f"{k} {built[k]}" for k in ("n_cells", "seed", "rule") if k in built)))
            break
    return info


def _run_figures(run: Run, model_cells: pd.DataFrame, comparison: pd.DataFrame, rates: pd.DataFrame,
                 summary: pd.DataFrame, condition: str, tmp_dir: Path, title: str, seed: int
                 ) -> tuple[list[tuple[str, str, Path]], pd.DataFrame]:
    """The run's own figures (raster, population rates, rate distributions, ISI CV, network) and, when some population
    is compared with the data, the comparison figure; returns (name, caption, file) of each and the peer table."""
    referenced = run.referenced
    made = [
        ("raster", "Raster: cells grouped by population, sorted by x position within it.",
         figures.plot_raster(run, tmp_dir / "raster.png")),
        ("population-rates", "Population rate per cell over time (10 ms bins).",
         figures.plot_population_rates(run, tmp_dir / "population_rates.png"))]
    if referenced:
        peer = compare_peer(rates, summary, seed=seed)
        made += [
            ("comparison", "Median rates with 95% bootstrap intervals: model, data per condition, Billeh et al. "
             "2020.", figures.plot_comparison(comparison, peer, tmp_dir / "comparison.png", title)),
            ("rate-distributions", f"Rate distributions, model against the {condition} reference and the peer "
             "model (log axis; zero fractions in the legends).",
             figures.plot_rate_distributions(model_cells, rates, summary, condition,
                                             tmp_dir / "rate_distributions.png", title, referenced=referenced))]
    else:
        peer = comparison.iloc[:0]
        made.append(("rate-distributions", f"Rate distributions per population, the cells of this run alone "
                     f"({NO_REFERENCE}; log axis; zero fractions in the legends).",
                     figures.plot_rate_distributions(run.cells, rates, summary, condition,
                                                     tmp_dir / "rate_distributions.png", title, referenced=set())))
    made += [
        ("isi-cv", "ISI coefficient of variation of cells with at least 4 spikes; 1 is Poisson.",
         figures.plot_isi_cv(run.cells, tmp_dir / "isi_cv.png", title)),
        ("network", "The network: cells at their positions coloured by rate.",
         figures.plot_network(run.cells, tmp_dir / "network.png", title)),
    ]
    return made, peer


def _write_outputs(output_dir: Path, page: str, tables: dict[str, pd.DataFrame]) -> Path:
    """Write the tables (CSV) and the page (``report.html``) into ``output_dir``, each under a temporary name first."""
    for name, table in tables.items():
        table.to_csv(_tmp(output_dir / name), index=False, float_format="%.6g")
        os.replace(_tmp(output_dir / name), output_dir / name)
    report = output_dir / "report.html"
    _tmp(report).write_text(page)
    os.replace(_tmp(report), report)
    return report


def write_report(output_dir: Path, config_path: Path | None = None, condition: str | None = None,
                 perturbations: list[Path] | None = None, seed: int = 0, command: str = "",
                 stimuli: list[Path] | None = None) -> Path:
    """Analyse the run in ``output_dir`` and write its report, figures and comparison table.

    Parameters
    ----------
    output_dir : pathlib.Path
        The run's output folder.
    config_path : pathlib.Path, optional
        The run's configuration (default: the copy in ``output_dir``).
    condition : str, optional
        Stimulus condition of the data to highlight (default: that of the run's LGN input).
    perturbations : list of pathlib.Path, optional
        Perturbation-suite folders to include (default: those found in ``output_dir``).
    seed : int
        Seed of the bootstrap.
    command : str
        The command line, printed in the report.
    stimuli : list of pathlib.Path, optional
        Stimulus-condition folders to include (default: those in ``output_dir/stimulus/``).

    Returns
    -------
    pathlib.Path
        The report.

    Raises
    ------
    analysis.rates.RunDataError
        If the run's files are missing or do not belong together.
    """
    output_dir = Path(output_dir)
    run = load_run(output_dir, config_path)
    # only the populations of the project's own network are the mouse V1 L2/3 model the data describe
    referenced = run.referenced
    lgn = run.config.get("lgn_input") if isinstance(run.config.get("lgn_input"), dict) else None
    condition = condition or condition_of((lgn or {}).get("stimulus"))
    rates, summary = load_rates(), load_summary()
    model_cells = run.cells[run.cells.pop_name.isin(list(referenced))]
    comparison = compare_model(model_cells, rates, summary, seed=seed)
    title = f"{run.name}: "
    figures_dir = output_dir / "figures"
    tmp_dir = Path(tempfile.mkdtemp(prefix=".figures.", dir=output_dir))
    tmp_dir.chmod(0o755)
    try:
        made, peer = _run_figures(run, model_cells, comparison, rates, summary, condition, tmp_dir, title, seed)
        figs = [Figure(name, caption, _encode(path)) for name, caption, path in made]
        stimulus_runs = find_stimulus_runs(output_dir) if stimuli is None else [Path(p) for p in stimuli]
        stimulus_sections = [stimulus_section(folder, tmp_dir) for folder in stimulus_runs]
        if figures_dir.exists():
            shutil.rmtree(figures_dir)
        os.replace(tmp_dir, figures_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    single = output_dir / "neurons" / "v1_fi.png"
    if single.is_file():
        figs.append(Figure("v1-fi", "f-I curves of the four V1 cell models alone (python -m studies.neurons gallery "
                           f"--out {single.parent}).", _encode(single)))
    folders = find_perturbations(output_dir) if perturbations is None else [Path(p) for p in perturbations]
    baseline = analyse_spikes(run.spikes_file)
    criticality = criticality_table({f"{run.name} (baseline)": baseline,
                                     **{name: analyse_spikes(f) for name, f in perturbation_runs(folders).items()}})
    avalanches = figures.plot_avalanches(run.spikes_file, baseline, output_dir / "figures" / "avalanches.png")
    if avalanches is not None:
        figs.append(Figure("avalanches", "Neuronal avalanches of the baseline (all simulated cells pooled, bins of the "
                           "mean inter-event interval): size and duration distributions with their power-law fits, "
                           "and mean size against duration with the crackling-noise prediction.",
                           _encode(avalanches)))
    notes = [f"{pop}, {cond}: no reference with {MIN_UNITS} or more units."
             for pop, cond in comparison[comparison.source == "none"][["population", "condition"]].itertuples(
                 index=False)]
    page = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
        TEMPLATE.read_text()).render(
        title=f"{title}model versus mouse V1" if referenced else f"{title}the run's spiking activity",
        command=command or f"python -m analysis report {output_dir}",
        config_path=str(run.config_path or config_path or "(copy in the output folder)"),
        run_info=_run_info(run, condition if referenced else None),
        population_table=_population_rows(population_summary(run.cells, referenced=referenced)),
        compared=bool(referenced), project_network=bool(run.project_populations), lgn_driven=lgn is not None,
        build_info=BUILD_INFO, no_reference=NO_REFERENCE,
        condition=condition, n_boot=N_BOOT, tstop_s=f"{(run.tstop_ms - run.tstart_ms) / 1000:g}",
        resolution_hz=f"{1000.0 / (run.tstop_ms - run.tstart_ms):.2g}",
        comparison_table=comparison_rows(comparison, condition), peer_table=comparison_rows(peer, None),
        preference=", ".join(f"{s} {layer}" for s, layer in PREFERENCE), min_units=MIN_UNITS,
        reference_notes=notes, figures=figs,
        perturbations=[s for folder in folders for s in perturbation_section(folder)], output_dir=str(output_dir),
        stimulus_sections=stimulus_sections, stimulus_notes=STIMULUS_NOTES,
        criticality_table={"columns": list(CRITICALITY_COLUMNS.values()),
                           "rows": [[_cell(v) for v in row] for row in criticality.itertuples(index=False)]})
    return _write_outputs(output_dir, page, {"criticality.csv": criticality, "comparison.csv": comparison})


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")
