"""Visual stimulus conditions: what the screen shows, when, and the LGN spike trains they evoke.

Four named conditions, each a protocol of :data:`STIMULI_FILE` (every number there with its source):

``gray``
    The mean-luminance screen: spontaneous activity, in blocks of ``gray.block_s`` (``stimulus_name``
    ``spontaneous``).
``flash``
    Full-field white and black flashes of 250 ms, one every 2 s on gray, in seeded random order (Brain Observatory
    1.1): ``trials`` of each colour (``stimulus_name`` ``flashes``, ``color`` +1 white, -1 black).
``gratings``
    Full-field drifting gratings at 0.04 cycles/deg, 8 directions x the listed temporal frequencies, 2 s each with
    1 s of gray after, seeded random order: ``trials`` of each condition (``stimulus_name`` ``drifting_gratings``).
``seed``
    The seed's constant-rate Poisson LGN (``python -m inputs spikes``: config ``lgn_input``), nothing on the
    screen; its presentation table is the flash schedule, so the flash metrics show what an input that never
    flashes gives (``screen`` column ``none``).

A session starts with ``lead_gray_s`` of gray, then the presentations back to back (each trial cycle is a
stimulus and the gray after it). The LGN's firing rate for each *distinct* stimulus (a flash colour, a grating
direction and frequency, gray) is evaluated once with bmtk FilterNet (:mod:`inputs.filternet`); the trials are
then independent inhomogeneous Poisson draws from those rates, 1 ms bins (the 1 kHz frames), uniform within a
bin. Times: seconds in the presentation table (AllenSDK's convention), milliseconds in spike files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import UserError

INPUTS_DIR = Path(__file__).resolve().parent
STIMULI_FILE = INPUTS_DIR / "stimuli.json"
CONDITIONS = ("gray", "flash", "gratings", "seed")
#: AllenSDK's stimulus names.
STIMULUS_NAMES = {"gray": "spontaneous", "flash": "flashes", "gratings": "drifting_gratings", "seed": "flashes"}
PRESENTATION_COLUMNS = ("start_time", "stop_time", "stimulus_name", "color", "orientation", "temporal_frequency",
                        "spatial_frequency", "contrast", "stimulus_key", "screen")


class StimulusError(UserError):
    """A stimulus condition or protocol parameter cannot be used; the message names the field and valid values."""


@dataclass(frozen=True)
class Stimulus:
    """One distinct stimulus and its trial cycle.

    Attributes
    ----------
    key : str
        Identifier, e.g. ``flash_white`` or ``grating_d045_tf2``.
    kind : str
        ``gray``, ``flash`` or ``grating``.
    on_s : float
        Duration of the stimulus proper (s); gray follows until ``cycle_s``.
    cycle_s : float
        Duration of one trial: stimulus and the gray after it (s).
    params : dict
        The presentation-table columns of this stimulus (``color``, ``orientation``, ...).
    """

    key: str
    kind: str
    on_s: float
    cycle_s: float
    params: dict = field(default_factory=dict)


def _positive(section: dict, key: str, where: str) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value) or value <= 0:
        raise StimulusError(f"{where}.{key} must be a number > 0, got {value!r}.")
    return float(value)


def load_protocol(path: Path = STIMULI_FILE) -> dict:
    """Read and check the stimulus protocol (``inputs/stimuli.json``).

    Returns
    -------
    dict
        The protocol; durations in s, frequencies in Hz and cycles/deg, angles in deg, contrast in [0, 1].

    Raises
    ------
    StimulusError
        Naming the file, the field and the valid values.
    """
    path = Path(path)
    try:
        protocol = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise StimulusError(f"{path}: cannot read the stimulus protocol: {err}") from err
    try:
        check_protocol(protocol)
    except StimulusError as err:
        raise StimulusError(f"{path}: {err}") from None
    return protocol


def check_protocol(protocol: dict) -> None:
    """Check every field of a protocol (see :func:`load_protocol`).

    Raises
    ------
    StimulusError
    """
    for key in ("frame_rate_hz", "pixel_deg", "screen_margin_deg"):
        _positive(protocol, key, "protocol")
    lead = protocol.get("lead_gray_s")
    if isinstance(lead, bool) or not isinstance(lead, int | float) or not np.isfinite(lead) or lead < 0:
        raise StimulusError(f"lead_gray_s must be a duration >= 0 s, got {lead!r}.")
    for section, keys in (("gray", ("block_s",)), ("flash", ("duration_s", "interval_s")),
                          ("gratings", ("duration_s", "gray_s", "spatial_frequency_cpd"))):
        if not isinstance(protocol.get(section), dict):
            raise StimulusError(f"section '{section}' is missing.")
        for key in keys:
            _positive(protocol[section], key, section)
        for key in ("default_trials", "min_trials"):
            value = protocol[section].get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise StimulusError(f"{section}.{key} must be an integer >= 1, got {value!r}.")
    for section in ("flash", "gratings"):
        contrast = protocol[section].get("contrast")
        if isinstance(contrast, bool) or not isinstance(contrast, int | float) or not 0 <= contrast <= 1:
            raise StimulusError(f"{section}.contrast must be a number in [0, 1] (Michelson contrast), got "
                                f"{contrast!r}.")
    flash = protocol["flash"]
    if flash["duration_s"] >= flash["interval_s"]:
        raise StimulusError(f"flash.duration_s ({flash['duration_s']} s) must be shorter than flash.interval_s "
                            f"({flash['interval_s']} s), the onset-to-onset interval.")
    colors = flash.get("colors")
    if not isinstance(colors, list) or sorted(colors) != [-1.0, 1.0]:
        raise StimulusError(f"flash.colors must be [1.0, -1.0] (white and black), got {colors!r}.")
    grat = protocol["gratings"]
    for key, low, high in (("directions_deg", 0.0, 360.0), ("temporal_frequencies_hz", 0.0, np.inf)):
        values = grat.get(key)
        if not isinstance(values, list) or not values or any(
                isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) for v in values):
            raise StimulusError(f"gratings.{key} must be a non-empty list of numbers, got {values!r}.")
        if key == "temporal_frequencies_hz" and any(v <= 0 for v in values):
            raise StimulusError(f"gratings.temporal_frequencies_hz must all be > 0 Hz, got {values}.")
        if key == "directions_deg" and any(not low <= v < high for v in values):
            raise StimulusError(f"gratings.directions_deg must lie in [0, 360) deg, got {values}.")
    lgn = protocol.get("lgn")
    if not isinstance(lgn, dict):
        raise StimulusError("section 'lgn' is missing.")
    _positive(lgn, "rate_scale", "lgn")
    size = lgn.get("spatial_size_deg")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int | float) for v in size)
            and 0 < size[0] <= size[1]):
        raise StimulusError(f"lgn.spatial_size_deg must be [low, high] with 0 < low <= high (deg), got {size!r}.")


def check_condition(condition: str) -> str:
    """Return ``condition`` if it is one of :data:`CONDITIONS`.

    Raises
    ------
    StimulusError
    """
    if condition not in CONDITIONS:
        raise StimulusError(f"unknown condition {condition!r}; valid conditions are {', '.join(CONDITIONS)}.")
    return condition


def check_trials(condition: str, trials: int | None, protocol: dict) -> int:
    """The number of trials of ``condition`` (default from the protocol), at least its ``min_trials``.

    Raises
    ------
    StimulusError
        If ``trials`` is not an integer or fewer than the protocol's metrics need.
    """
    section = protocol[{"seed": "flash"}.get(condition, condition)]
    if trials is None:
        return int(section["default_trials"])
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer):
        raise StimulusError(f"--trials must be an integer, got {trials!r}.")
    if trials < section["min_trials"]:
        what = {"gray": "gray blocks", "flash": "flashes of each colour", "seed": "flashes of each colour",
                "gratings": "presentations of each grating condition"}[condition]
        raise StimulusError(f"--trials {trials} is too few for condition {condition}: AllenSDK's trial metrics "
                            f"(Fano factor, reliability, tuning) need at least {section['min_trials']} {what}.")
    return int(trials)


def distinct_stimuli(condition: str, protocol: dict) -> list[Stimulus]:
    """The distinct stimuli of ``condition``, each with its trial cycle.

    Examples
    --------
    >>> [s.key for s in distinct_stimuli("flash", load_protocol())]
    ['flash_white', 'flash_black']
    """
    check_condition(condition)
    if condition == "gray":
        block = protocol["gray"]["block_s"]
        return [Stimulus("gray", "gray", block, block, {})]
    if condition in ("flash", "seed"):
        flash = protocol["flash"]
        return [Stimulus(f"flash_{'white' if c > 0 else 'black'}", "flash", flash["duration_s"], flash["interval_s"],
                         {"color": float(c), "contrast": float(flash["contrast"])}) for c in flash["colors"]]
    grat = protocol["gratings"]
    return [Stimulus(f"grating_d{int(round(d)):03d}_tf{tf:g}", "grating", grat["duration_s"],
                     grat["duration_s"] + grat["gray_s"],
                     {"orientation": float(d), "temporal_frequency": float(tf),
                      "spatial_frequency": float(grat["spatial_frequency_cpd"]), "contrast": float(grat["contrast"])})
            for tf in grat["temporal_frequencies_hz"] for d in grat["directions_deg"]]


def luminance(stimulus: Stimulus, t_s: np.ndarray, x_deg: np.ndarray, y_deg: np.ndarray) -> np.ndarray:
    """Screen luminance of one trial cycle, in FilterNet's contrast units (-1 black, 0 gray, +1 white).

    A drifting grating of direction theta moves along (cos theta, sin theta):
    ``c sin(2 pi (f_s (x cos theta + y sin theta) - f_t t))``.

    Parameters
    ----------
    stimulus : Stimulus
    t_s : numpy.ndarray
        Times from the cycle's start (s), shape (T,).
    x_deg, y_deg : numpy.ndarray
        Pixel centres (deg of visual field): columns (x) and rows (y).

    Returns
    -------
    numpy.ndarray
        Frames, shape (T, len(y_deg), len(x_deg)), float32.
    """
    t = np.asarray(t_s, float)
    on = (t >= 0) & (t < stimulus.on_s)
    frames = np.zeros((len(t), len(y_deg), len(x_deg)), dtype=np.float32)
    if stimulus.kind == "flash":
        frames[on] = stimulus.params["color"] * stimulus.params["contrast"]
    elif stimulus.kind == "grating":
        theta = np.deg2rad(stimulus.params["orientation"])
        yy, xx = np.meshgrid(np.asarray(y_deg, float), np.asarray(x_deg, float), indexing="ij")
        space = stimulus.params["spatial_frequency"] * (xx * np.cos(theta) + yy * np.sin(theta))
        phase = 2 * np.pi * (space[None] - stimulus.params["temporal_frequency"] * t[on, None, None])
        frames[on] = stimulus.params["contrast"] * np.sin(phase)
    return frames


def schedule(condition: str, trials: int, seed: int, protocol: dict) -> pd.DataFrame:
    """The presentation table of a session: every trial of every distinct stimulus in seeded random order.

    Parameters
    ----------
    condition : str
        One of :data:`CONDITIONS`.
    trials : int
        Trials of each distinct stimulus.
    seed : int
        Seed of the order.
    protocol : dict

    Returns
    -------
    pandas.DataFrame
        :data:`PRESENTATION_COLUMNS` plus ``cycle_stop`` (s): ``start_time``/``stop_time`` of the stimulus proper
        (s from the session start), NaN for parameters a stimulus does not have.
    """
    stimuli = distinct_stimuli(condition, protocol)
    order = np.repeat(np.arange(len(stimuli)), trials)
    if condition != "gray":
        np.random.default_rng([int(seed), 1]).shuffle(order)
    rows, start = [], float(protocol["lead_gray_s"])
    for index in order:
        stim = stimuli[index]
        rows.append({"start_time": start, "stop_time": start + stim.on_s,
                     "stimulus_name": STIMULUS_NAMES[condition], "color": np.nan, "orientation": np.nan,
                     "temporal_frequency": np.nan, "spatial_frequency": np.nan, "contrast": np.nan,
                     **stim.params, "stimulus_key": stim.key,
                     "screen": "none (seed constant-rate input)" if condition == "seed" else stim.kind,
                     "cycle_stop": start + stim.cycle_s})
        start += stim.cycle_s
    return pd.DataFrame(rows, columns=[*PRESENTATION_COLUMNS, "cycle_stop"])


def session_duration_s(presentations: pd.DataFrame, protocol: dict) -> float:
    """Duration of the session (s): the lead gray and every trial cycle."""
    if len(presentations) == 0:
        return float(protocol["lead_gray_s"])
    return float(presentations.cycle_stop.max())


def draw_session(rates_hz: dict[str, np.ndarray], gray_hz: np.ndarray, presentations: pd.DataFrame,
                 frame_rate_hz: float, seed: int, rate_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Inhomogeneous Poisson spikes of the LGN cells over a session.

    Parameters
    ----------
    rates_hz : dict of str to numpy.ndarray
        Stimulus key -> firing rate of each cell in each frame of one trial cycle (Hz), shape (cells, frames).
    gray_hz : numpy.ndarray
        Rate of each cell on the gray screen (Hz), shape (cells,): the lead before the first presentation.
    presentations : pandas.DataFrame
        :func:`schedule`'s table.
    frame_rate_hz : float
        Frames per second of the rates (each frame a bin of 1/frame_rate s).
    seed : int
        Seed of the draw; the same seed gives the same spikes.
    rate_scale : float
        Factor applied to every rate (the LGN calibration).

    Returns
    -------
    tuple of numpy.ndarray
        (cell index, spike time in ms) of every spike, sorted by time.
    """
    rng = np.random.default_rng([int(seed), 2])
    bin_s = 1.0 / frame_rate_hz
    cells, times = [], []

    def add(rates: np.ndarray, t0_s: float) -> None:
        counts = rng.poisson(np.clip(rates, 0, None) * rate_scale * bin_s)
        cell, frame = np.nonzero(counts)
        n = counts[cell, frame]
        cell, frame = np.repeat(cell, n), np.repeat(frame, n)
        cells.append(cell)
        times.append(1000.0 * (t0_s + (frame + rng.random(len(frame))) * bin_s))

    lead = presentations.start_time.min() if len(presentations) else 0.0
    n_lead = int(round(lead * frame_rate_hz))
    if n_lead:
        add(np.repeat(np.asarray(gray_hz, float)[:, None], n_lead, axis=1), 0.0)
    for start, stop, key in presentations[["start_time", "cycle_stop", "stimulus_key"]].itertuples(index=False):
        rates = rates_hz[key]
        n_frames = int(round((stop - start) * frame_rate_hz))
        if rates.shape[1] < n_frames:
            raise StimulusError(f"the rates of {key} cover {rates.shape[1]} frames, the trial needs {n_frames}.")
        add(rates[:, :n_frames], start)
    cell, time_ms = np.concatenate(cells), np.concatenate(times)
    order = np.argsort(time_ms, kind="stable")
    return cell[order], time_ms[order]
