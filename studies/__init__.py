"""The studies the V1 model grew out of, each in its own folder: single neurons (``studies.neurons``), conductance
circuits (``studies.circuits``), criticality sweeps and tuning (``studies.criticality``) and digit learning by GA and
STDP (``studies.digits``)."""
