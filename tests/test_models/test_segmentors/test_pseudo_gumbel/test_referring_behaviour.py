"""Behaviour: a shortened default warm-up segments what the caption names.

On the procedural referring task every scene holds the target among look-alikes that differ
from it in one attribute, so a text-blind model scores the same with true, shuffled and
attribute-swapped captions; this test fails when the caption does not reach the mask (e.g. it
is dropped from the segmentation prompt).
"""
from mmengine.config import Config

from cissreg.engine.hooks import caption_mode_miou
from cissreg.registry import RUNNERS

CONFIG = 'configs/pseudo_gumbel/tiny_shapes.py'
TRAIN_PAIRS, EPOCHS = 400, 8  # 200 iterations of 16 pairs, about 3 epochs of the default


def _retarget(node, old: str, new: str):
    """Replace the ``old`` data root prefix of every string under ``node``."""
    if isinstance(node, dict):
        return {k: _retarget(v, old, new) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return type(node)(_retarget(v, old, new) for v in node)
    if isinstance(node, str) and node.startswith(old):
        return new + node[len(old):]
    return node


def test_shortened_default_reads_the_caption(tmp_path):
    cfg = Config.fromfile(CONFIG)
    root = str(tmp_path / 'pairs')
    for key in ('model', 'train_dataloader', 'val_dataloader'):
        cfg[key] = _retarget(cfg[key].to_dict(), cfg.data_root, root)
    cfg.train_dataloader['dataset']['num_pairs'] = TRAIN_PAIRS
    cfg.val_dataloader['dataset']['num_pairs'] = 60
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=EPOCHS, val_interval=EPOCHS + 1)
    cfg.default_hooks.train_mode.switch_epoch = EPOCHS  # warm-up only
    cfg.default_hooks.ema_teacher.begin_epoch = EPOCHS
    cfg.default_hooks.logger.interval = 1000
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.custom_hooks = []
    cfg.val_dataloader['batch_size'] = 30
    cfg.randomness = dict(seed=0)
    cfg.work_dir = str(tmp_path / 'work_dir')
    runner = RUNNERS.build(cfg)
    runner.train()
    scores = caption_mode_miou(runner.model, cfg.val_dataloader)
    # a text-blind model gives equal scores (to float rounding) under all three
    assert scores['mIoU_true'] - scores['mIoU_shuffled'] > 0.05, scores
    assert scores['mIoU_true'] - scores['mIoU_swapped'] > 0.02, scores
