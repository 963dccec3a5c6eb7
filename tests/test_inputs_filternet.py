"""bmtk FilterNet as the LGN: tON cells at the network's positions, their flash responses, the cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inputs.filternet import evaluate, filter_models_dir, lgn_cells, screen
from inputs.stimuli import StimulusError, distinct_stimuli, load_protocol


@pytest.fixture(scope="module")
def protocol() -> dict:
    return load_protocol()


@pytest.fixture(scope="module")
def cells(protocol) -> pd.DataFrame:
    """Five tON cells spread over the field, receptive fields of 2 and 10 deg."""
    return pd.DataFrame({"node_id": np.arange(5), "x": [-25.0, -10.0, 0.0, 10.0, 25.0],
                         "y": [-12.0, 5.0, 0.0, -5.0, 12.0], "spatial_size": [2.0, 10.0, 5.0, 2.0, 10.0]})


@pytest.fixture(scope="module")
def flash_rates(cells, protocol, tmp_path_factory) -> dict:
    stimuli = distinct_stimuli("gray", protocol) + distinct_stimuli("flash", protocol)
    return evaluate(cells, stimuli, protocol, cache_dir=tmp_path_factory.mktemp("cache"), progress=False)


def test_the_billeh_filter_ships_with_bmtk():
    assert (filter_models_dir() / "tON_TF8.json").is_file()


def test_on_cells_fire_more_after_white_than_after_black_onset(flash_rates):
    white, black, gray = flash_rates["flash_white"], flash_rates["flash_black"], flash_rates["gray"]
    assert white.shape == (5, 2000) and black.shape == (5, 2000)
    early = slice(0, 100)  # the first 100 ms after onset
    assert (white[:, early].mean(axis=1) > gray.mean(axis=1) + 1.0).all()
    assert (black[:, early].mean(axis=1) < gray.mean(axis=1)).all()
    assert (white[:, early].mean(axis=1) > 2 * black[:, early].mean(axis=1)).all()


def test_gray_is_the_spontaneous_rate_of_bmtks_ton_cells(flash_rates):
    # bmtk's tON cell data: spontaneous rate 2.6 Hz (the transfer function's offset), flat on a gray screen
    np.testing.assert_allclose(flash_rates["gray"], 2.6, atol=1e-6)
    # long after the flash the cells are back at rest
    np.testing.assert_allclose(flash_rates["flash_white"][:, -200:], 2.6, atol=0.05)


def test_full_field_response_does_not_depend_on_position_or_size(flash_rates):
    white = flash_rates["flash_white"]
    np.testing.assert_allclose(white, white[[0]].repeat(5, axis=0), rtol=1e-4, atol=1e-4)


def test_cache_returns_the_same_rates(cells, protocol, flash_rates, tmp_path):
    stimuli = distinct_stimuli("flash", protocol)
    first = evaluate(cells, stimuli, protocol, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.npy"))) == 2
    second = evaluate(cells, stimuli, protocol, cache_dir=tmp_path, progress=False)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
        np.testing.assert_allclose(first[key], flash_rates[key], atol=1e-5)


def test_screen_covers_every_receptive_field(cells, protocol):
    x, y = screen(cells, protocol)
    assert x.min() <= cells.x.min() - protocol["screen_margin_deg"]
    assert y.max() >= cells.y.max() + protocol["screen_margin_deg"]
    assert np.allclose(np.diff(x), protocol["pixel_deg"])


def test_network_lgn_cells(small_network, protocol):
    table = lgn_cells(small_network, protocol)
    assert len(table) == 500 and table.node_id.is_unique
    low, high = protocol["lgn"]["spatial_size_deg"]
    assert table.spatial_size.between(low, high).all()
    pd.testing.assert_frame_equal(table, lgn_cells(small_network, protocol))  # seeded


def test_missing_network_is_named(tmp_path, protocol):
    with pytest.raises(StimulusError, match="LGN_nodes.h5"):
        lgn_cells(tmp_path, protocol)
