"""Figures of the digit-learning studies: the STDP window, receptive fields, confusion matrices, accuracy against
network size and the GA learning curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from common.style import plt

from .digits import DIEHL_COOK_2015_MNIST


def plot_stdp_window(windows: list, path: Path) -> Path:
    """Measured STDP windows (weight change per pair against spike-time difference) on the closed form, and residuals.

    Parameters
    ----------
    windows : list of studies.digits.stdp_window.Window
        One or more measurements of the same rule (e.g. parrot and lif_cond postsynaptic neurons).
    path : Path
        PNG to write.
    """
    fig, (ax, res) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    first = windows[0]
    lo = min(float(w.dt_ms.min()) for w in windows)
    hi = max(float(w.dt_ms.max()) for w in windows)
    fine = np.union1d(np.linspace(lo, hi, 2001), [-first.delay_ms - 1e-9, -first.delay_ms + 1e-9])
    rule = first.rule
    ax.plot(fine, first.closed_form(fine), "k-", lw=1.2,
            label=f"closed form: {rule['a_plus_nS']:g} nS exp(-s/{rule['tau_plus_ms']:g} ms), "
                  f"-{rule['a_minus_nS']:g} nS exp(s/{rule['tau_minus_ms']:g} ms)")
    for w, marker, color in zip(windows, ("o", "s", "^"), ("tab:red", "tab:blue", "tab:green"), strict=False):
        ax.plot(w.dt_ms, w.dw_nS, marker, ms=4, mfc="none", color=color,
                label=f"NEST stdp_synapse, {w.post} post neuron (max |dev| {w.max_deviation_nS:.1e} nS)")
        res.plot(w.dt_ms, w.dw_nS - w.closed_nS, marker, ms=3, mfc="none", color=color)
    ax.axhline(0, color="0.6", lw=0.6)
    ax.axvline(0, color="0.6", lw=0.6)
    ax.set_ylabel("weight change per pair (nS)")
    ax.set_title(f"STDP window (s = dt + {first.delay_ms:g} ms dendritic delay)")
    ax.legend(fontsize=7.5, loc="lower right")
    res.axhline(0, color="k", lw=0.6)
    res.set_ylabel("measured - closed (nS)")
    res.set_xlabel("spike-time difference t_post - t_pre (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_receptive_fields(weights_nS: np.ndarray, assignments: np.ndarray, path: Path, title: str = "") -> Path:
    """The learned input weights of every excitatory neuron as 8x8 images in a grid, each with its assigned digit.

    Parameters
    ----------
    weights_nS : ndarray, shape (neurons, 64)
        Input weights (nS), pixels in row-major 8x8 order.
    assignments : ndarray of int, shape (neurons,)
        Digit of each neuron (-1: never fired, shown as "-").
    path : Path
        PNG to write.
    title : str
    """
    n = len(weights_nS)
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    side = 9  # 8 pixels and a 1-pixel gap
    mosaic = np.full((rows * side + 1, cols * side + 1), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        mosaic[1 + r * side:r * side + side, 1 + c * side:c * side + side] = np.asarray(weights_nS[k]).reshape(8, 8)
    size = min(14.0, max(4.0, 0.45 * cols))
    fig, ax = plt.subplots(figsize=(size + 1.2, size * rows / cols + 0.8))
    signed = np.nanmin(mosaic) < 0  # excitatory and inhibitory weights: a diverging map centred on 0
    cmap = plt.colormaps["RdBu_r" if signed else "hot_r"].copy()
    cmap.set_bad("0.85")
    top = np.nanmax(np.abs(mosaic))
    im = ax.imshow(mosaic, cmap=cmap, interpolation="nearest", vmin=-top if signed else 0, vmax=top)
    if n <= 900:
        for k in range(n):
            r, c = divmod(k, cols)
            label = "-" if assignments[k] < 0 else str(int(assignments[k]))
            ax.text(c * side + 1.3, r * side + 2.2, label, color="tab:blue", fontsize=max(4, 9 - cols // 6),
                    fontweight="bold")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, label="input weight (nS)", shrink=0.8)
    ax.set_title(f"receptive fields (8x8 pixels; blue: assigned digit)\n{title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: np.ndarray, path: Path, title: str = "") -> Path:
    """Confusion matrix of the test images: true digit against predicted digit, with a "none" column for no answer.

    Parameters
    ----------
    matrix : ndarray of int, shape (10, 11)
        From :func:`studies.digits.digits.confusion`.
    path : Path
        PNG to write.
    title : str
    """
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(matrix, cmap="Blues")
    for (r, c), value in np.ndenumerate(matrix):
        if value:
            ax.text(c, r, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > matrix.max() / 2 else "black")
    ax.set_xticks(range(matrix.shape[1]), [*map(str, range(matrix.shape[1] - 1)), "none"])
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    fig.colorbar(im, ax=ax, label="test images (count)", shrink=0.8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_accuracy_vs_size(table: pd.DataFrame, path: Path, baseline: float | None = None,
                          reference: dict | None = None) -> Path:
    """Train and test accuracy of the STDP network against its number of excitatory neurons.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``neurons``, ``train_accuracy``, ``test_accuracy`` (fractions).
    path : Path
        PNG to write.
    baseline : float, optional
        Test accuracy of the logistic regression on the same split (fraction), drawn as a line.
    reference : dict, optional
        Neurons -> test accuracy of another study (default: Diehl & Cook 2015 on MNIST), drawn grey.
    """
    reference = DIEHL_COOK_2015_MNIST if reference is None else reference
    table = table.sort_values("neurons")
    fig, ax = plt.subplots(figsize=(7, 4.8))
    ax.plot(table.neurons, 100 * table.test_accuracy, "o-", color="tab:red", label="STDP network, test")
    ax.plot(table.neurons, 100 * table.train_accuracy, "s--", color="tab:red", mfc="none", alpha=0.7,
            label="STDP network, train (labelling set)")
    if baseline is not None:
        ax.axhline(100 * baseline, color="tab:blue", ls=":", label=f"logistic regression, test ({baseline:.1%})")
    if reference:
        sizes = sorted(reference)
        ax.plot(sizes, [100 * reference[s] for s in sizes], "^-", color="0.6",
                label="Diehl & Cook 2015, MNIST 28x28 (test)")
    ax.set_xscale("log")
    ax.set_xlabel("excitatory neurons")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("digit classification by unsupervised STDP against network size")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_learning_curve(curve: pd.DataFrame, path: Path, baseline: float | None = None) -> Path:
    """The GA's learning curve: the assembled network's accuracy and the digits' detection fitness per generation.

    Parameters
    ----------
    curve : pandas.DataFrame
        From :func:`studies.digits.ga.evolve` (``generation``, ``best_accuracy``, ``best_fitness``, ``mean_fitness``).
    path : Path
        PNG to write.
    baseline : float, optional
        Test accuracy of the logistic regression on the same split (fraction), drawn as a line.
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(curve.generation, 100 * curve.best_accuracy, "-", color="tab:red",
            label="network of the best rows: accuracy")
    ax.plot(curve.generation, 100 * curve.best_fitness, "-", color="tab:green",
            label="best detection fitness (mean over digits)")
    ax.plot(curve.generation, 100 * curve.mean_fitness, "--", color="tab:green", alpha=0.6,
            label="population mean detection fitness")
    ax.axhline(10, color="0.5", ls=":", label="chance (10%)")
    if baseline is not None:
        ax.axhline(100 * baseline, color="tab:blue", ls=":", label=f"logistic regression, test ({baseline:.1%})")
    ax.set_xlabel("generation")
    ax.set_ylabel("on the fitness images (%)")
    ax.set_ylim(0, 100)
    ax.set_title("genetic algorithm: digit classification by the spiking network")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
