"""Writes the projected features of every training sample after training (GCD stage 1/3)."""
import os.path as osp
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.data import DataLoader

from cissreg.clustering.cache_io import save_feature_cache
from cissreg.registry import HOOKS


@torch.no_grad()
def extract_gcd_features(model, dataset, batch_size: int = 256) -> Dict[str, np.ndarray]:
    """Projections of every sample of a :class:`GCDDatasetWrapper`, in dataset order.

    Args:
        model: :class:`ContrastiveGCD` (or its wrapper); run in eval mode, restored after.
        dataset: the wrapper (its samples carry ``gcd_index``, ``labelled``, ``gt_label``).
        batch_size (int): Defaults to 256.

    Returns:
        dict: ``indices`` int64 [N], ``features`` float32 [N, D], ``labels`` int64 [N] (known
        label or -1) and ``targets`` int64 [N] (ground truth).
    """
    model = model.module if is_model_wrapper(model) else model
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                        collate_fn=pseudo_collate)
    out = dict(indices=[], features=[], labels=[], targets=[])
    for data in loader:
        data = model.data_preprocessor(data, False)
        out['features'].append(model(data['inputs'], mode='tensor').float().cpu().numpy())
        for s in data['data_samples']:
            target = int(s.gt_label.reshape(-1)[0])
            out['indices'].append(int(s.gcd_index))
            out['targets'].append(target)
            out['labels'].append(target if bool(s.labelled) else -1)
    model.train(was_training)
    return dict(indices=np.array(out['indices'], dtype=np.int64),
                features=np.concatenate(out['features']),
                labels=np.array(out['labels'], dtype=np.int64),
                targets=np.array(out['targets'], dtype=np.int64))


@HOOKS.register_module()
class GCDFeatureCacheHook(Hook):
    """After training, write the feature cache of the training set to ``out_file``.

    The file (format in :mod:`cissreg.clustering.cache_io`) records the epoch and the latest
    checkpoint, so the pseudo labels made from it can be traced and checked. ``None`` does
    nothing (``tools/pseudo_label_pipeline.py`` sets it per stage).

    Args:
        out_file (str, optional): ``.npz`` path.
        batch_size (int): Defaults to 256.
    """

    priority = 'LOWEST'

    def __init__(self, out_file: Optional[str] = None, batch_size: int = 256) -> None:
        self.out_file = out_file
        self.batch_size = batch_size

    def after_train(self, runner) -> None:
        if self.out_file is None:
            return
        feats = extract_gcd_features(runner.model, runner.train_dataloader.dataset,
                                     self.batch_size)
        ckpt = osp.join(runner.work_dir, f'epoch_{runner.epoch}.pth')
        save_feature_cache(self.out_file, feats['indices'], feats['features'], feats['labels'],
                           feats['targets'], dict(epoch=runner.epoch, checkpoint=ckpt))
        runner.logger.info(f'feature cache of epoch {runner.epoch} written to {self.out_file}')
