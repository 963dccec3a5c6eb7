"""The perturbation suite: current clamps on each V1 population, run in parallel on Dask, effects measured.

``python -m perturbations run`` writes the configurations, runs the baseline and the eight perturbations, and
writes ``output/perturbations/summary.csv`` and its figures.
"""
