"""Pseudo-label weights of the core and weighted modes."""
import numpy as np
import pytest

from cissreg.clustering import pseudo_label_weights


def test_core_and_weighted_modes():
    labels = np.array([0, 0, 1, -1, 1, 1])
    core = np.array([True, False, True, False, False, True])
    dens = np.array([2.0, 1.0, 4.0, 0.5, 3.0, 2.5])  # core threshold tau = 2.0
    np.testing.assert_array_equal(pseudo_label_weights(labels, core, dens, 'core'),
                                  [1, 0, 1, 0, 0, 1])
    np.testing.assert_allclose(pseudo_label_weights(labels, core, dens, 'weighted'),
                               [1, 0.5, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="mode must be one of .* got 'soft'"):
        pseudo_label_weights(labels, core, dens, 'soft')
