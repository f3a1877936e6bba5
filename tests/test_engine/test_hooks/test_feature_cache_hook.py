"""FeatureCacheHook: cached-feature batches carry their image files to the NaN check."""
import ast
import re

import pytest
import torch
from mmengine.hooks import Hook

from cissreg.engine.loops import FeatureBatchLoader
from cissreg.models.base_model import NonFiniteLossError
from cissreg.registry import DATASETS, HOOKS, RUNNERS
from cissreg.testing.clip_cil_parts import digits_run_cfg


@HOOKS.register_module(force=True)
class PoisonFeatureBatchHook(Hook):
    """Puts a NaN into the first cached-feature batch and records its labels."""

    labels = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        assert isinstance(runner.train_loop.dataloader, FeatureBatchLoader)
        assert 'inputs' not in data_batch  # a feature batch, no images nor data samples
        type(self).labels = data_batch['labels'].tolist()
        data_batch['feats'][0, 0] = float('nan')


def test_nonfinite_loss_on_a_feature_batch_names_its_image_files(tmp_path):
    cfg = digits_run_cfg(str(tmp_path), **{'train_cfg.num_tasks': 1})
    cfg.custom_hooks = [dict(type='PoisonFeatureBatchHook')]
    runner = RUNNERS.build(cfg)
    with pytest.raises(NonFiniteLossError, match='non-finite loss at iteration 1') as err:
        runner.train()
    files = ast.literal_eval(re.search(r'batch files: (\[.*\])', str(err.value)).group(1))
    # Every named file is the one whose features are in the batch, in batch order.
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    label_of = {d['img_path']: d['gt_label'] for d in dataset.data_list}
    assert len(files) == len(PoisonFeatureBatchHook.labels) == cfg.train_dataloader.batch_size
    assert len(set(files)) == len(files)
    assert [label_of[f] for f in files] == PoisonFeatureBatchHook.labels


def test_feature_batches_follow_the_permutation_with_their_files():
    feats = torch.arange(10.).view(5, 2)
    paths = [f'img{i}.png' for i in range(5)]
    loader = FeatureBatchLoader(feats, torch.arange(5), 2, img_paths=paths, seed=3)
    loader.set_epoch(1)
    for batch in loader:
        rows = (batch['feats'][:, 0] / 2).long().tolist()
        assert batch['img_paths'] == [paths[i] for i in rows]
        assert batch['labels'].tolist() == rows
    with pytest.raises(ValueError, match='img_paths differ in length'):
        FeatureBatchLoader(feats, torch.arange(5), 2, img_paths=paths[:4])
