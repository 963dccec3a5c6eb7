"""AllenSDK's single-unit stimulus metrics for simulated spike trains.

The spike trains of simulated cells and the project's presentation table (:func:`inputs.stimuli.schedule`) are
presented to AllenSDK's own stimulus-analysis classes
(``allensdk.brain_observatory.ecephys.stimulus_analysis.Flashes`` and ``.DriftingGratings``, AllenSDK 2.16.2) as an
``EcephysSession`` built on a small in-memory session API. Every number returned here is computed by AllenSDK's
code; nothing is re-implemented. The fake recording has one probe (``probeA``) with one channel per unit in the
structure ``structure_acronym`` (default ``VISp``).

Metric columns (AllenSDK's ``METRICS_COLUMNS`` of each class, all kept):

``Flashes`` (:data:`FLASH_METRICS`)
    ``on_off_ratio_fl``, ``sustained_idx_fl``, ``firing_rate_fl``, ``time_to_peak_fl``, ``fano_fl``,
    ``lifetime_sparseness_fl``, ``run_pval_fl``, ``run_mod_fl``. AllenSDK 2.16.2 has **no**
    ``time_to_first_spike_fl`` and no ``reliability_fl`` (``Flashes`` never computes them), so neither is here.
``DriftingGratings`` (:data:`GRATING_METRICS`)
    ``pref_ori_dg``, ``pref_ori_multi_dg``, ``pref_tf_dg``, ``pref_tf_multi_dg``, ``c50_dg``, ``f1_f0_dg``,
    ``mod_idx_dg``, ``g_osi_dg``, ``g_dsi_dg``, ``firing_rate_dg``, ``fano_dg``, ``lifetime_sparseness_dg``,
    ``run_pval_dg``, ``run_mod_dg``.

What AllenSDK's definitions give (read from its source; units in brackets):

* Windows. Spike counts per trial for the condition statistics (``spike_mean``, used by ``on_off_ratio_fl``,
  the preferred condition, tuning, ``lifetime_sparseness``) are taken over each presentation's own
  (``start_time``, ``stop_time``]; ``fano`` and the PSTHs use the class's ``trial_duration`` from onset (0.25 s for
  flashes, 2 s for gratings) in 1 ms bins ``np.arange(0, trial_duration, 0.001)``, i.e. 249 bins for flashes
  (the last millisecond is not binned) and 1999 for gratings.
* ``firing_rate_fl`` / ``firing_rate_dg`` [Hz]: spikes inside blocks of presentations divided by the blocks'
  duration; a block ends where consecutive onsets are more than 2 ``trial_duration`` apart, so with one flash every
  2 s every flash is its own block and the rate is the rate *during* the flashes; gratings 3 s apart (2 s + 1 s of
  gray) form a single block, so ``firing_rate_dg`` includes the gray between gratings. The windows are AllenSDK's
  defaults whatever the table's durations are (the project's protocol matches them).
* ``on_off_ratio_fl``: mean spike count of the white (``color`` 1.0) condition over that of the black (-1.0)
  condition; **NaN when the black response is 0** (not infinity).
* ``sustained_idx_fl``: mean / max of the preferred condition's PSTH (NaN for a unit silent there).
* ``time_to_peak_fl`` [s]: centre of the first PSTH bin holding the maximum of the preferred condition's PSTH. For a
  unit that never fires in the window every bin ties at 0, so AllenSDK gives the first bin's centre (0.0005 s),
  not NaN.
* ``f1_f0_dg``: AllenSDK folds each trial of the preferred condition into ``int(tf * t_max)`` cycles, with ``t_max``
  the last PSTH bin centre (1.9985 s), of ``int(1999 / cycles)`` bins each, and takes the first harmonic over the
  mean of that folded cycle. Because ``t_max < 2 s`` the number of cycles is one short whenever ``2 tf`` is an
  integer, so the folding period is ``2 tf / (2 tf - 1)`` times the stimulus period (e.g. 666 ms for 2 Hz): the
  value is *AllenSDK 2.16.2's* F1/F0, not the F1/F0 at the stimulus frequency: a response following a half-wave
  rectified sine exactly (textbook F1/F0 = pi/2) gets about 0.001, 0.006, 0.03, 0.06 and 0.83 at 1, 2, 4, 8 and
  15 Hz (closed form in the tests). It is NaN for a unit silent in its preferred condition. ``temporal_frequency``
  must give at least one cycle (``tf >= 0.5004`` Hz), otherwise AllenSDK divides by zero; this is checked.
* ``c50_dg`` is NaN: it needs a ``drifting_gratings_contrast`` stimulus, which the project does not present.
* ``pref_ori_multi_dg`` / ``pref_tf_multi_dg`` (bool): more than one orientation / TF ties for the maximum (True for
  a silent unit, whose ``pref_ori_dg`` / ``pref_tf_dg`` are then the smallest values).
* Running: the session's running speed is zero throughout (a simulation has no treadmill), so every trial counts as
  stationary and ``run_pval_*`` and ``run_mod_*`` are always NaN (AllenSDK needs at least two running and two
  stationary trials); they are kept only so the columns match AllenSDK's.

Silent units (an empty spike array) are kept: every unit of ``spike_times`` has a row, in the order given.

Cost: AllenSDK loops over units and presentations in Python (``presentationwise_spike_times``, a ``groupby`` loop per
unit and condition in ``conditionwise_spike_statistics``) and some per-unit steps copy tables whose size grows with
the number of units analysed together (quadratic). Units are therefore analysed in chunks of ``chunk_size`` on one
shared session; metrics are per unit, so chunking does not change any value. The gratings PSTH array (presentations x
1999 bins x units, uint16) also bounds the chunk size. Measured (2 shared cores): 10,000 units, 60 flashes,
1.2 million spikes: 38 s, 330 MB; 2,000 units, 120 gratings (8 directions x 3 TFs x 5), 2.2 million spikes: 40 s,
510 MB; time is linear in the number of units (about 4 ms per unit for flashes, 20 ms for these gratings).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from common.errors import UserError

if TYPE_CHECKING:
    from allensdk.brain_observatory.ecephys.ecephys_session import EcephysSession

#: AllenSDK's ``Flashes.METRICS_COLUMNS`` (AllenSDK 2.16.2), all kept.
FLASH_METRICS: tuple[str, ...] = ("on_off_ratio_fl", "sustained_idx_fl", "firing_rate_fl", "time_to_peak_fl",
                                  "fano_fl", "lifetime_sparseness_fl", "run_pval_fl", "run_mod_fl")
#: AllenSDK's ``DriftingGratings.METRICS_COLUMNS`` (AllenSDK 2.16.2), all kept.
GRATING_METRICS: tuple[str, ...] = ("pref_ori_dg", "pref_ori_multi_dg", "pref_tf_dg", "pref_tf_multi_dg", "c50_dg",
                                    "f1_f0_dg", "mod_idx_dg", "g_osi_dg", "g_dsi_dg", "firing_rate_dg", "fano_dg",
                                    "lifetime_sparseness_dg", "run_pval_dg", "run_mod_dg")

FLASHES = "flashes"
GRATINGS = "drifting_gratings"
SPONTANEOUS = "spontaneous"
#: The ``stimulus_name`` values a presentation table may hold.
STIMULUS_NAMES: tuple[str, ...] = (FLASHES, GRATINGS, SPONTANEOUS)
#: Stimulus parameters passed to AllenSDK (missing ones become ``'null'``); other columns are dropped, since AllenSDK
#: makes every distinct combination of the remaining columns a stimulus condition.
PARAMETER_COLUMNS: tuple[str, ...] = ("color", "orientation", "temporal_frequency", "spatial_frequency", "contrast",
                                      "phase", "size")
#: Columns each stimulus needs in the presentation table.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "any": ("start_time", "stop_time", "stimulus_name"),
    FLASHES: ("color",),
    GRATINGS: ("orientation", "temporal_frequency"),
}
#: Flash colours AllenSDK's ``on_off_ratio_fl`` compares: white (ON) and black (OFF).
FLASH_COLORS: tuple[float, ...] = (1.0, -1.0)
#: AllenSDK's default ``trial_duration`` (s) of each class.
TRIAL_DURATION_S: dict[str, float] = {FLASHES: 0.25, GRATINGS: 2.0}
MIN_TRIALS = 2
DEFAULT_CHUNK_SIZE = 200
#: Budget (bytes) for AllenSDK's uint16 PSTH array of one chunk (presentations x bins x units).
PSTH_BYTES = 64 * 2**20
_PSTH_BIN_S = 0.001  # AllenSDK's default psth_resolution


class MetricsError(UserError):
    """Input the metrics cannot be computed from; the message names the field and its valid values."""


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence AllenSDK's harmless warnings and undo the filters it installs globally.

    Importing ``stimulus_analysis`` calls ``warnings.simplefilter('ignore', RuntimeWarning)`` and the flash/grating
    modules ignore ``FutureWarning`` for the whole process; ``catch_warnings`` restores the caller's filters. Inside,
    0/0 divisions (NaN metrics of silent units), pandas/xarray deprecations and the empty-``std`` warnings of AllenSDK
    are not shown.
    """
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def _sdk():
    """AllenSDK's session and analysis classes, imported lazily (about 2 s) without its global warning filters."""
    with _quiet():
        from allensdk.brain_observatory.ecephys.ecephys_session import EcephysSession
        from allensdk.brain_observatory.ecephys.ecephys_session_api import EcephysSessionApi
        from allensdk.brain_observatory.ecephys.stimulus_analysis.drifting_gratings import DriftingGratings
        from allensdk.brain_observatory.ecephys.stimulus_analysis.flashes import Flashes
    return EcephysSession, EcephysSessionApi, Flashes, DriftingGratings


def _session_api(units: pd.DataFrame, channels: pd.DataFrame, probes: pd.DataFrame, spikes: dict[int, np.ndarray],
                 presentations: pd.DataFrame, running: pd.DataFrame):
    """An ``EcephysSessionApi`` serving in-memory tables (copies: AllenSDK's session mutates what it gets)."""
    _, api_base, _, _ = _sdk()

    class SimulatedSessionApi(api_base):
        def test(self) -> bool:
            return True

        def get_ecephys_session_id(self) -> int:
            return 0

        def get_session_start_time(self):
            return pd.Timestamp(0)

        def get_units(self) -> pd.DataFrame:
            return units.copy()

        def get_channels(self) -> pd.DataFrame:
            return channels.copy()

        def get_probes(self) -> pd.DataFrame:
            return probes.copy()

        def get_spike_times(self) -> dict[int, np.ndarray]:
            return dict(spikes)  # the session pops keys from the dict, not from the arrays

        def get_stimulus_presentations(self) -> pd.DataFrame:
            return presentations.copy()

        def get_running_speed(self) -> pd.DataFrame:
            return running.copy()

        def get_invalid_times(self) -> pd.DataFrame:
            return pd.DataFrame({"start_time": pd.Series(dtype=float), "stop_time": pd.Series(dtype=float),
                                 "tags": pd.Series(dtype=object)})

        def get_mean_waveforms(self) -> dict:
            return {}

        def get_spike_amplitudes(self) -> dict:
            return {}

        def get_optogenetic_stimulation(self) -> pd.DataFrame:
            return pd.DataFrame()

        def get_rig_metadata(self):
            return None

        def get_metadata(self) -> dict:
            return {"specimen_name": "simulation", "age_in_days": np.nan, "sex": "", "full_genotype": "",
                    "stimulus_name": "simulation"}

    return SimulatedSessionApi()


def _check_spike_times(spike_times: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Sorted float64 spike times (s) per integer unit id; MetricsError for bad ids or times."""
    if not isinstance(spike_times, Mapping) or len(spike_times) == 0:
        got = f"an empty {type(spike_times).__name__}" if isinstance(spike_times, Mapping) else \
            type(spike_times).__name__
        raise MetricsError(f"spike_times must be a non-empty dict of unit id (int) -> spike times (s); got {got}")
    out: dict[int, np.ndarray] = {}
    for unit, times in spike_times.items():
        if isinstance(unit, bool) or not isinstance(unit, numbers.Integral):
            raise MetricsError(f"spike_times keys (unit ids) must be integers (AllenSDK casts unit ids to int); "
                               f"got {unit!r} ({type(unit).__name__})")
        arr = np.asarray(times, dtype=float)
        if arr.ndim != 1:
            raise MetricsError(f"spike_times[{unit}] must be a 1-D array of spike times (s); got shape {arr.shape}")
        if arr.size and not (np.all(np.isfinite(arr)) and arr.min() >= 0):
            raise MetricsError(f"spike_times[{unit}] must hold finite times >= 0 s; got min {np.nanmin(arr)!r}, "
                               f"{int(np.sum(~np.isfinite(arr)))} NaN/inf value(s)")
        out[int(unit)] = np.sort(arr)
    return out


def _check_presentations(presentations: pd.DataFrame) -> pd.DataFrame:
    """The validated presentation table sorted by onset, with AllenSDK's bookkeeping columns (not yet the fill)."""
    if not isinstance(presentations, pd.DataFrame):
        raise MetricsError(f"presentations must be a pandas DataFrame with columns {REQUIRED_COLUMNS['any']}; "
                           f"got {type(presentations).__name__}")
    missing = [c for c in REQUIRED_COLUMNS["any"] if c not in presentations.columns]
    if missing:
        raise MetricsError(f"presentations is missing the required column(s) {missing}; required: "
                           f"{list(REQUIRED_COLUMNS['any'])}, plus {list(REQUIRED_COLUMNS[FLASHES])} for {FLASHES} "
                           f"and {list(REQUIRED_COLUMNS[GRATINGS])} for {GRATINGS}")
    if len(presentations) == 0:
        raise MetricsError("presentations has no rows; it needs flashes or drifting_gratings presentations")
    names = presentations["stimulus_name"]
    bad = sorted({repr(n) for n in names if n not in STIMULUS_NAMES})
    if bad:
        raise MetricsError(f"presentations.stimulus_name has invalid value(s) {', '.join(bad)}; valid stimulus_name "
                           f"values: {', '.join(STIMULUS_NAMES)}")
    for stim in (FLASHES, GRATINGS):
        if (names == stim).any():
            missing = [c for c in REQUIRED_COLUMNS[stim] if c not in presentations.columns]
            if missing:
                raise MetricsError(f"presentations holds {stim} but is missing the column(s) {missing} "
                                   f"({stim} needs {list(REQUIRED_COLUMNS[stim])})")
    table = presentations.copy()
    for col in ("start_time", "stop_time"):
        vals = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        if not (np.all(np.isfinite(vals)) and vals.min() >= 0):
            n_bad = int(np.sum(~np.isfinite(vals)))
            low = np.nanmin(vals) if np.isfinite(vals).any() else "NaN"
            raise MetricsError(f"presentations.{col} must be finite times >= 0 s; got {n_bad} NaN/non-numeric "
                               f"value(s), min {low}")
        table[col] = vals
    if not np.all(table["stop_time"].to_numpy() > table["start_time"].to_numpy()):
        raise MetricsError("presentations.stop_time must be > start_time in every row (durations > 0 s)")
    table = table.sort_values("start_time", kind="stable").reset_index(drop=True)
    overlap = np.flatnonzero(table["start_time"].to_numpy()[1:] < table["stop_time"].to_numpy()[:-1])
    if overlap.size:
        i = int(overlap[0])
        raise MetricsError(f"presentations overlap in time: start_time {table.start_time[i + 1]} s < stop_time "
                           f"{table.stop_time[i]} s of the previous presentation; AllenSDK assigns each spike to one "
                           "presentation, so presentations must not overlap")
    return table


def _check_conditions(table: pd.DataFrame) -> None:
    """Flash colours, grating parameters and trial counts; MetricsError naming the field."""
    flashes = table[table.stimulus_name == FLASHES]
    if len(flashes):
        colors = pd.to_numeric(flashes["color"], errors="coerce")
        bad = sorted({repr(c) for c in flashes["color"][~colors.isin(FLASH_COLORS)]})
        if bad:
            raise MetricsError(f"presentations.color of flashes has invalid value(s) {', '.join(bad)}; valid color "
                               "values: 1.0 (white), -1.0 (black)")
        for color, name in zip(FLASH_COLORS, ("white", "black"), strict=True):
            if not (colors == color).any():
                raise MetricsError(f"presentations.color: the flashes have no {name} (color {color}) presentations; "
                                   "AllenSDK's on_off_ratio_fl needs both color 1.0 (white) and -1.0 (black)")
        _check_trials(flashes.assign(color=colors), ["color"], FLASHES)
    gratings = table[table.stimulus_name == GRATINGS]
    if len(gratings):
        params = {}
        for col in REQUIRED_COLUMNS[GRATINGS]:
            vals = pd.to_numeric(gratings[col], errors="coerce")
            if not np.all(np.isfinite(vals)):
                raise MetricsError(f"presentations.{col} of drifting_gratings must be finite numbers; got "
                                   f"{int((~np.isfinite(vals)).sum())} NaN/non-numeric value(s)")
            params[col] = vals
        # AllenSDK's f1_f0: cycles = int(tf * last bin centre); zero cycles divides by zero.
        last_centre = TRIAL_DURATION_S[GRATINGS] - 1.5 * _PSTH_BIN_S
        low = params["temporal_frequency"][(params["temporal_frequency"] * last_centre).astype(int) < 1]
        if len(low):
            raise MetricsError(f"presentations.temporal_frequency of drifting_gratings must be >= "
                               f"{1 / last_centre:.4f} Hz (at least one cycle in AllenSDK's {last_centre} s window); "
                               f"got {sorted(set(low))}")
        _check_trials(gratings.assign(**params), list(REQUIRED_COLUMNS[GRATINGS]), GRATINGS)


def _check_trials(rows: pd.DataFrame, by: list[str], stim: str) -> None:
    counts = rows.groupby(by).size()
    few = counts[counts < MIN_TRIALS]
    if len(few):
        cond = few.index[0] if isinstance(few.index[0], tuple) else (few.index[0],)
        label = ", ".join(f"{k}={v}" for k, v in zip(by, cond, strict=True))
        fano = "fano_fl" if stim == FLASHES else "fano_dg"
        raise MetricsError(f"presentations: the {stim} condition {label} has {int(few.iloc[0])} presentation(s); "
                           f"every condition needs >= {MIN_TRIALS} trials ({fano} is the trial-to-trial variance of "
                           "the spike count and AllenSDK's spike_std uses ddof=1)")


def _allen_presentations(table: pd.DataFrame) -> pd.DataFrame:
    """The stimulus_presentations table AllenSDK's session builder expects."""
    out = table[["start_time", "stop_time", "stimulus_name"]].copy()
    for col in PARAMETER_COLUMNS:
        if col in table.columns:
            vals = table[col].map(lambda v: tuple(v) if isinstance(v, list | np.ndarray) else v)
            numeric = pd.to_numeric(vals, errors="coerce")
            vals = numeric.where(numeric.notna() | vals.isna(), vals)  # numbers as float, others unchanged
            out[col] = vals.astype(object).where(vals.notna(), "null")
        else:
            out[col] = "null"
    # Parameters a stimulus does not have are 'null' (e.g. a flash's orientation), as in Allen's tables.
    for stim, own in ((FLASHES, {"color", "contrast"}), (GRATINGS, {"orientation", "temporal_frequency",
                                                                  "spatial_frequency", "contrast", "phase", "size"}),
                      (SPONTANEOUS, set())):
        mask = out.stimulus_name == stim
        for col in set(PARAMETER_COLUMNS) - own:
            out.loc[mask, col] = "null"
    block = (out.stimulus_name != out.stimulus_name.shift()).cumsum() - 1
    out["stimulus_block"] = block.astype(float)
    out["stimulus_index"] = out.stimulus_name.map({n: i for i, n in enumerate(STIMULUS_NAMES)}).astype(float)
    out.index = pd.RangeIndex(len(out), name="stimulus_presentation_id")
    return out


def make_session(spike_times: dict[int, np.ndarray], presentations: pd.DataFrame, *,
                 structure_acronym: str = "VISp") -> EcephysSession:
    """An AllenSDK ``EcephysSession`` holding simulated spike trains and a presentation table.

    Parameters
    ----------
    spike_times : dict of int to numpy.ndarray
        Unit id -> spike times (s, on the presentation table's clock, >= 0); any order, empty for a silent unit.
    presentations : pandas.DataFrame
        The project's presentation table: ``start_time``, ``stop_time`` (s), ``stimulus_name`` (``flashes``,
        ``drifting_gratings`` or ``spontaneous``), and the parameters ``color`` (1.0 white, -1.0 black) for flashes,
        ``orientation`` (deg), ``temporal_frequency`` (Hz), ``spatial_frequency`` (cycles/deg), ``contrast`` for
        gratings; NaN for parameters a stimulus does not have. Other columns (e.g. ``stimulus_key``, ``screen``,
        ``cycle_stop``) are dropped: AllenSDK would make each distinct combination of them a stimulus condition.
    structure_acronym : str, optional
        ``ecephys_structure_acronym`` of the fake channels.

    Returns
    -------
    allensdk.brain_observatory.ecephys.ecephys_session.EcephysSession
        One probe (``probeA``), one channel per unit, the presentations sorted by onset with ids 0..n-1,
        ``stimulus_block``/``stimulus_index`` filled in, missing parameters ``'null'`` and a running speed of zero
        (one 0 cm/s sample at each onset: running-modulation metrics are NaN).

    Raises
    ------
    MetricsError
        Bad spike times or presentation table (the message names the field and the valid values).
    """
    spikes, table = _prepare(spike_times, presentations)
    return _build_session(spikes, _allen_presentations(table), structure_acronym)


def _build_session(spikes: dict[int, np.ndarray], allen_table: pd.DataFrame, structure_acronym: str):
    session_cls = _sdk()[0]
    ids = np.fromiter(spikes.keys(), dtype=np.int64, count=len(spikes))
    n = len(ids)
    # Channel ids are positions; the vertical position keeps AllenSDK's unit sort in the given order.
    channels = pd.DataFrame({"probe_id": np.zeros(n, dtype=np.int64), "probe_channel_number": np.arange(n),
                             "probe_vertical_position": np.arange(n), "probe_horizontal_position": np.zeros(n),
                             "ecephys_structure_acronym": structure_acronym},
                            index=pd.Index(np.arange(n, dtype=np.int64), name="id"))
    probes = pd.DataFrame({"description": ["probeA"], "location": [structure_acronym], "sampling_rate": [30000.0],
                           "lfp_sampling_rate": [np.nan], "has_lfp_data": [False]},
                          index=pd.Index([0], name="id"))
    units = pd.DataFrame({"peak_channel_id": np.arange(n, dtype=np.int64)}, index=pd.Index(ids, name="id"))
    running = pd.DataFrame({"start_time": allen_table["start_time"].to_numpy(),
                            "end_time": allen_table["start_time"].to_numpy(), "velocity": 0.0})
    api = _session_api(units, channels, probes, spikes, allen_table, running)
    with _quiet():
        session = session_cls(api=api)
        session.stimulus_presentations  # build the table and conditions once  # noqa: B018
        session.units  # noqa: B018
    return session


def _chunks(unit_ids: np.ndarray, n_presentations: int, n_bins: int, chunk_size: int) -> list[np.ndarray]:
    by_memory = max(1, PSTH_BYTES // max(1, 2 * n_presentations * n_bins))
    size = max(1, min(chunk_size, by_memory))
    return [unit_ids[i:i + size] for i in range(0, len(unit_ids), size)]


def _run(session, stim: str, columns: tuple[str, ...], unit_ids: np.ndarray, chunk_size: int) -> pd.DataFrame:
    _, _, flashes_cls, gratings_cls = _sdk()
    cls = flashes_cls if stim == FLASHES else gratings_cls
    n_pres = int((session.stimulus_presentations.stimulus_name == stim).sum())
    n_bins = int(round(TRIAL_DURATION_S[stim] / _PSTH_BIN_S))
    parts, dtypes = [], {}
    with _quiet():
        for chunk in _chunks(unit_ids, n_pres, n_bins, chunk_size):
            analysis = cls(session, filter=list(chunk), stimulus_key=stim)
            parts.append(analysis.metrics)
            dtypes = dict(analysis.METRICS_COLUMNS)
    metrics = pd.concat(parts)
    if tuple(metrics.columns) != columns:  # pragma: no cover - guards an AllenSDK upgrade
        raise RuntimeError(f"AllenSDK {cls.__name__} returned columns {list(metrics.columns)}, expected {columns}")
    # time_to_peak_fl arrives as 0-d arrays in an object column: AllenSDK's declared dtypes restore float64/bool.
    metrics = metrics.astype(dtypes)
    return metrics.reindex(pd.Index(unit_ids, name="unit_id"))


def _prepare(spike_times, presentations) -> tuple[dict[int, np.ndarray], pd.DataFrame]:
    spikes = _check_spike_times(spike_times)
    table = _check_presentations(presentations)
    _check_conditions(table)
    return spikes, table


def _metrics(spike_times, presentations, stimuli: tuple[str, ...], structure_acronym: str,
             chunk_size: int) -> pd.DataFrame:
    spikes, table = _prepare(spike_times, presentations)
    present = set(table.stimulus_name)
    for stim in stimuli:
        if stim not in present:
            raise MetricsError(f"presentations.stimulus_name has no {stim} presentations (found: "
                               f"{', '.join(sorted(present))}); valid stimulus_name values: "
                               f"{', '.join(STIMULUS_NAMES)}")
    session = _build_session(spikes, _allen_presentations(table), structure_acronym)
    ids = np.fromiter(spikes.keys(), dtype=np.int64, count=len(spikes))
    cols = {FLASHES: FLASH_METRICS, GRATINGS: GRATING_METRICS}
    return pd.concat([_run(session, s, cols[s], ids, chunk_size) for s in stimuli], axis=1)


def flash_metrics(spike_times: dict[int, np.ndarray], presentations: pd.DataFrame, *,
                  structure_acronym: str = "VISp", chunk_size: int = DEFAULT_CHUNK_SIZE) -> pd.DataFrame:
    """AllenSDK ``Flashes`` metrics of every unit.

    Parameters
    ----------
    spike_times : dict of int to numpy.ndarray
        Unit id -> spike times (s).
    presentations : pandas.DataFrame
        Presentation table (see :func:`make_session`) holding ``flashes`` with white (``color`` 1.0) and black (-1.0)
        presentations, at least 2 of each.
    structure_acronym : str, optional
        Structure of the fake channels.
    chunk_size : int, optional
        Units analysed together (values do not depend on it; larger chunks cost memory and quadratic time).

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id`` (every key of ``spike_times``, in order), columns :data:`FLASH_METRICS`: rates in Hz,
        ``time_to_peak_fl`` in s, the other metrics dimensionless (see the module docstring for AllenSDK's
        definitions and NaN cases).

    Raises
    ------
    MetricsError
        Bad input, or no flashes in the table.
    """
    return _metrics(spike_times, presentations, (FLASHES,), structure_acronym, chunk_size)


def grating_metrics(spike_times: dict[int, np.ndarray], presentations: pd.DataFrame, *,
                    structure_acronym: str = "VISp", chunk_size: int = DEFAULT_CHUNK_SIZE) -> pd.DataFrame:
    """AllenSDK ``DriftingGratings`` metrics of every unit.

    Parameters
    ----------
    spike_times : dict of int to numpy.ndarray
        Unit id -> spike times (s).
    presentations : pandas.DataFrame
        Presentation table (see :func:`make_session`) holding ``drifting_gratings`` with ``orientation`` (deg) and
        ``temporal_frequency`` (Hz), at least 2 trials of each (orientation, temporal frequency).
    structure_acronym : str, optional
        Structure of the fake channels.
    chunk_size : int, optional
        Units analysed together (values do not depend on it).

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id`` (every key of ``spike_times``, in order), columns :data:`GRATING_METRICS`:
        ``pref_ori_dg`` in deg, ``pref_tf_dg`` and ``firing_rate_dg`` in Hz, ``pref_*_multi_dg`` bool (object column
        after reindexing), the other metrics dimensionless.

    Raises
    ------
    MetricsError
        Bad input, or no drifting gratings in the table.
    """
    return _metrics(spike_times, presentations, (GRATINGS,), structure_acronym, chunk_size)


def unit_metrics(spike_times: dict[int, np.ndarray], presentations: pd.DataFrame, *,
                 structure_acronym: str = "VISp", chunk_size: int = DEFAULT_CHUNK_SIZE) -> pd.DataFrame:
    """AllenSDK flash and drifting-grating metrics for whichever of the two stimuli the table holds.

    Parameters
    ----------
    spike_times : dict of int to numpy.ndarray
        Unit id -> spike times (s).
    presentations : pandas.DataFrame
        Presentation table (see :func:`make_session`).
    structure_acronym : str, optional
        Structure of the fake channels.
    chunk_size : int, optional
        Units analysed together (values do not depend on it).

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id``; columns :data:`FLASH_METRICS` if the table holds flashes, then :data:`GRATING_METRICS` if
        it holds drifting gratings.

    Raises
    ------
    MetricsError
        Bad input, or a table with neither flashes nor drifting_gratings presentations.
    """
    if isinstance(presentations, pd.DataFrame) and "stimulus_name" in presentations.columns:
        present = set(presentations["stimulus_name"])
        stimuli = tuple(s for s in (FLASHES, GRATINGS) if s in present)
        if not stimuli:
            raise MetricsError("the presentation table has no flashes or drifting_gratings presentations; valid "
                               f"stimulus_name values: {', '.join(STIMULUS_NAMES)} (found: "
                               f"{', '.join(sorted(map(str, present))) or 'none'})")
    else:
        stimuli = (FLASHES, GRATINGS)  # _check_presentations names the problem
    return _metrics(spike_times, presentations, stimuli, structure_acronym, chunk_size)
