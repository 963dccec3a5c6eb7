"""Learning the 8x8 digits with spiking networks on NEST: a genetic algorithm (:mod:`.ga`), the STDP window
(:mod:`.stdp_window`) and unsupervised STDP learning (:mod:`.stdp_learning`); ``python -m studies.digits``."""
