"""Per-sample pseudo-label weights from the SSDDBC densities (the "weighted mode")."""
import numpy as np

PSEUDO_LABEL_MODES = ('core', 'weighted')


def pseudo_label_weights(labels: np.ndarray, core_mask: np.ndarray, densities: np.ndarray,
                         mode: str = 'core') -> np.ndarray:
    """Weight of each sample's pseudo label in the pseudo-label loss.

    * ``'core'``: 1 for a core point with a pseudo label, 0 elsewhere (only the dense
      backbone of each cluster is trusted).
    * ``'weighted'``: core points 1; *border* points (non-core, assigned to a cluster in step
      6) ``min(1, rho'_i / tau)`` with ``tau = min(rho' over the core points)`` (the core
      threshold of step 2), so a border point weighs its density relative to the least dense
      core point; *noise* (unassigned, label -1) 0.

    Args:
        labels (np.ndarray): int [N] pseudo labels, -1 = unassigned.
        core_mask (np.ndarray): bool [N] core points.
        densities (np.ndarray): float [N] relative densities ``rho'``.
        mode (str): ``'core'`` or ``'weighted'``. Defaults to ``'core'``.

    Returns:
        np.ndarray: float64 [N] weights in [0, 1].
    """
    if mode not in PSEUDO_LABEL_MODES:
        raise ValueError(f'pseudo_label_weights: mode must be one of {PSEUDO_LABEL_MODES}, '
                         f'got {mode!r}')
    labels = np.asarray(labels)
    core = np.asarray(core_mask, dtype=bool)
    assigned = labels >= 0
    weights = (core & assigned).astype(np.float64)
    if mode == 'weighted' and core.any():
        tau = float(np.min(np.asarray(densities)[core]))
        border = assigned & ~core
        rel = np.asarray(densities, dtype=np.float64)[border] / max(tau, 1e-12)
        weights[border] = np.clip(rel, 0.0, 1.0)
    return weights
