"""Stimulus protocols: the schedule, the movies against their closed forms, and the Poisson trial draw."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from inputs.stimuli import (
    CONDITIONS,
    Stimulus,
    StimulusError,
    check_condition,
    check_protocol,
    check_trials,
    distinct_stimuli,
    draw_session,
    load_protocol,
    luminance,
    schedule,
    session_duration_s,
)


@pytest.fixture(scope="module")
def protocol() -> dict:
    return load_protocol()


def test_flash_schedule_follows_the_brain_observatory_protocol(protocol):
    table = schedule("flash", 30, seed=0, protocol=protocol)
    assert len(table) == 60
    assert (table.color == 1.0).sum() == 30 and (table.color == -1.0).sum() == 30
    np.testing.assert_allclose(table.stop_time - table.start_time, 0.25)
    np.testing.assert_allclose(np.diff(table.start_time), 2.0)  # one flash every 2 s
    assert table.start_time.iloc[0] == protocol["lead_gray_s"]
    assert set(table.stimulus_name) == {"flashes"}
    assert session_duration_s(table, protocol) == pytest.approx(protocol["lead_gray_s"] + 120.0)
    # random order, reproducible from the seed
    assert not (table.color.to_numpy()[:30] == 1.0).all()
    assert table.equals(schedule("flash", 30, seed=0, protocol=protocol))
    assert not table.color.equals(schedule("flash", 30, seed=1, protocol=protocol).color)


def test_grating_schedule_has_every_condition(protocol):
    table = schedule("gratings", 3, seed=0, protocol=protocol)
    grat = protocol["gratings"]
    n_conditions = len(grat["directions_deg"]) * len(grat["temporal_frequencies_hz"])
    assert len(table) == 3 * n_conditions
    assert table.groupby(["orientation", "temporal_frequency"]).size().eq(3).all()
    np.testing.assert_allclose(table.stop_time - table.start_time, 2.0)
    np.testing.assert_allclose(np.diff(table.start_time), 3.0)  # 2 s grating + 1 s gray
    assert (table.spatial_frequency == 0.04).all() and (table.contrast == 0.8).all()


def test_seed_condition_is_the_flash_schedule_without_a_screen(protocol):
    seed, flash = schedule("seed", 5, 0, protocol), schedule("flash", 5, 0, protocol)
    assert seed[["start_time", "stop_time", "color"]].equals(flash[["start_time", "stop_time", "color"]])
    assert seed.screen.str.startswith("none").all()


def test_flash_frames(protocol):
    white = Stimulus("w", "flash", 0.25, 2.0, {"color": 1.0, "contrast": 1.0})
    t = np.arange(-0.1, 0.5, 0.001)
    frames = luminance(white, t, np.arange(3.0), np.arange(2.0))
    assert frames.shape == (len(t), 2, 3)
    on = (t >= 0) & (t < 0.25)
    assert (frames[on] == 1.0).all() and (frames[~on] == 0.0).all()


def test_grating_frames_drift_at_their_temporal_frequency_along_their_direction():
    tf, sf = 4.0, 0.04
    grating = Stimulus("g", "grating", 2.0, 3.0, {"orientation": 90.0, "temporal_frequency": tf,
                                                   "spatial_frequency": sf, "contrast": 0.8})
    t = np.arange(0, 2.0, 0.001)
    x = np.arange(-20.0, 20.1, 2.5)
    y = np.arange(-10.0, 10.1, 2.5)
    frames = luminance(grating, t, x, y)
    assert frames.max() == pytest.approx(0.8, abs=1e-3) and frames.min() == pytest.approx(-0.8, abs=1e-3)
    spectrum = np.abs(np.fft.rfft(frames[:, 0, 0]))
    assert np.fft.rfftfreq(len(t), 0.001)[spectrum.argmax()] == pytest.approx(tf)
    # direction 90 deg moves along +y: constant along x, and the pattern at y + v dt equals the pattern at y
    assert np.ptp(frames[500], axis=1).max() < 1e-6
    speed = tf / sf  # deg/s
    shift = round(2.5 / speed / 0.001)  # frames for the pattern to move one pixel row
    np.testing.assert_allclose(frames[shift, 1:, 0], frames[0, :-1, 0], atol=1e-5)


def test_poisson_draw_matches_the_rates(protocol):
    table = schedule("flash", 10, 0, protocol)
    n_cells, n_frames = 200, 2000
    rates = {"flash_white": np.full((n_cells, n_frames), 5.0), "flash_black": np.zeros((n_cells, n_frames))}
    rates["flash_black"][:, :250] = 40.0
    cell, t_ms = draw_session(rates, np.full(n_cells, 2.0), table, 1000.0, seed=3)
    expected = n_cells * (2.0 * 1.0 + 10 * 5.0 * 2.0 + 10 * 40.0 * 0.25)  # lead gray, white cycles, black flashes
    assert abs(len(t_ms) - expected) < 5 * np.sqrt(expected)
    assert np.all(np.diff(t_ms) >= 0) and cell.max() < n_cells
    black = table[table.color == -1]
    in_black = sum(((t_ms >= 1000 * a) & (t_ms < 1000 * (a + 0.25))).sum() for a in black.start_time)
    assert abs(in_black - n_cells * 10 * 10.0) < 5 * np.sqrt(n_cells * 100.0)
    again = draw_session(rates, np.full(n_cells, 2.0), table, 1000.0, seed=3)
    np.testing.assert_array_equal(again[1], t_ms)
    doubled = draw_session(rates, np.full(n_cells, 2.0), table, 1000.0, seed=3, rate_scale=2.0)[1]
    assert abs(len(doubled) - 2 * expected) < 5 * np.sqrt(2 * expected)


@pytest.mark.parametrize(("section", "key", "value", "words"), [
    ("flash", "contrast", 1.5, "[0, 1]"),
    ("gratings", "contrast", -0.1, "[0, 1]"),
    ("flash", "duration_s", -0.25, "> 0"),
    ("gratings", "gray_s", 0, "> 0"),
    ("gratings", "temporal_frequencies_hz", [2.0, 0.0], "> 0 Hz"),
    ("gratings", "temporal_frequencies_hz", [-4.0], "> 0 Hz"),
    ("gratings", "directions_deg", [400.0], "[0, 360)"),
    ("flash", "duration_s", 3.0, "shorter than flash.interval_s"),
    ("lgn", "rate_scale", float("nan"), "> 0"),
])
def test_bad_protocol_fields_are_named(protocol, section, key, value, words):
    bad = copy.deepcopy(protocol)
    bad[section][key] = value
    with pytest.raises(StimulusError, match=key) as err:
        check_protocol(bad)
    assert words in str(err.value)


def test_conditions_and_trials(protocol):
    assert CONDITIONS == ("gray", "flash", "gratings", "seed")
    with pytest.raises(StimulusError, match="valid conditions are gray, flash, gratings, seed"):
        check_condition("flashes")
    assert check_trials("flash", None, protocol) == protocol["flash"]["default_trials"]
    with pytest.raises(StimulusError, match="at least 3 flashes of each colour"):
        check_trials("flash", 2, protocol)
    with pytest.raises(StimulusError, match="integer"):
        check_trials("gratings", 2.5, protocol)
    assert [s.key for s in distinct_stimuli("gray", protocol)] == ["gray"]
