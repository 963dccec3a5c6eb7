"""Single-neuron dynamics on NEST: LIF, exponential LIF and AdEx under four kinds of current."""
