"""Criticality of the conductance circuits: sweeps over the weight scale and tuning to a target branching ratio
(``python -m studies.criticality``); the estimators are in :mod:`analysis.criticality`."""
