"""LGN input from the Allen Visual Coding - Neuropixels recordings: unit tables, typical rates, spike trains.

``python -m inputs rates`` derives the committed rate table ``inputs/lgn_rates.csv`` (with
``lgn_rates_quantiles.csv`` and ``lgn_rates.source.json``); ``python -m inputs spikes`` turns it into
``inputs/lgn_spikes.h5`` with bmtk's ``PoissonSpikeGenerator``.
"""
