"""Calibration: tuning the model's weights to the data (``python -m calibration``), above the analysis it scores
with."""
