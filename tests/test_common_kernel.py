"""common.kernel: the one NEST kernel set-up of the studies that drive NEST directly."""

from __future__ import annotations

import pytest

from common.kernel import fresh_kernel


def test_fresh_kernel_resets_and_sets_the_step_threads_and_seed():
    nest = fresh_kernel(0.1)
    nest.Create("iaf_psc_delta", 3)
    nest.Simulate(5.0)
    again = fresh_kernel(0.05, threads=2, rng_seed=12345)
    assert again is nest
    assert nest.num_connections == 0 and len(nest.GetNodes()) == 0 and nest.biological_time == 0.0
    assert nest.resolution == pytest.approx(0.05)
    assert nest.local_num_threads == 2 and nest.rng_seed == 12345
    assert nest.verbosity == nest.VerbosityLevel.ERROR


def test_the_seed_gives_the_same_poisson_spikes():
    def spikes(seed):
        nest = fresh_kernel(0.1, rng_seed=seed)
        source = nest.Create("poisson_generator", params={"rate": 500.0})
        recorder = nest.Create("spike_recorder")
        parrot = nest.Create("parrot_neuron")
        nest.Connect(source, parrot)
        nest.Connect(parrot, recorder)
        nest.Simulate(200.0)
        return recorder.get("events")["times"].tolist()

    first = spikes(3)
    assert len(first) > 50 and spikes(3) == first and spikes(4) != first
