"""Does a referring model read the text? mIoU with true, shuffled and swapped captions."""
import copy
from typing import Dict, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn

from cissreg.evaluation.metrics.ris_metric import RISMetric
from cissreg.registry import HOOKS

CAPTION_MODES = ('true', 'shuffled', 'swapped')


def caption_mode_miou(model: nn.Module, dataloader_cfg: dict,
                      modes: Sequence[str] = CAPTION_MODES) -> Dict[str, float]:
    """mIoU of ``model`` on the dataloader's dataset built with each ``caption_mode``.

    The dataset (e.g. ``RegionPairDataset``) must take ``caption_mode``: ``'true'`` (each
    pair's own caption), ``'shuffled'`` (another pair's) or ``'swapped'`` (one attribute
    changed to name a distractor). A model that reads the text loses mIoU under the last two;
    a text-blind one scores the same under all three.

    Args:
        model (nn.Module): A model with ``val_step`` returning ``pred_mask`` / ``gt_mask``
            dicts (``PseudoGumbelSegmentor``).
        dataloader_cfg (dict): A dataloader config (``Runner.build_dataloader``).
        modes (Sequence[str]): Caption modes to evaluate. Defaults to all three.

    Returns:
        dict[str, float]: ``{'mIoU_true': ..., 'mIoU_shuffled': ..., 'mIoU_swapped': ...}``
        (the requested modes).
    """
    bad = [m for m in modes if m not in CAPTION_MODES]
    if bad:
        raise ValueError(f'caption modes must be in {CAPTION_MODES}, got {bad}')
    was_training = model.training
    model.eval()
    out = {}
    for mode in modes:
        cfg = copy.deepcopy(dataloader_cfg)
        cfg['dataset'] = dict(cfg['dataset'], caption_mode=mode)
        metric = RISMetric()
        with torch.no_grad():
            for batch in Runner.build_dataloader(cfg):
                metric.process(batch, model.val_step(batch))
        out[f'mIoU_{mode}'] = metric.compute_metrics(metric.results)['mIoU']
    model.train(was_training)
    return out


@HOOKS.register_module()
class TextSensitivityHook(Hook):
    """After each validation, also evaluate the val set with perturbed captions.

    Adds ``ris/mIoU_{mode}`` for each of ``modes`` and ``ris/text_gap`` (mIoU with the
    true captions minus mIoU with shuffled ones) to the validation metrics, so they are
    logged per epoch beside ``ris/mIoU``.

    Args:
        modes (Sequence[str]): Perturbations, from ``'shuffled'`` and ``'swapped'``.
            Defaults to both.
        prefix (str): Metric prefix. Defaults to ``'ris'``.
    """

    priority = 'NORMAL'  # after RuntimeInfoHook stored the metrics, before LoggerHook logs

    def __init__(self, modes: Sequence[str] = ('shuffled', 'swapped'),
                 prefix: str = 'ris') -> None:
        bad = [m for m in modes if m not in CAPTION_MODES[1:]]
        if bad:
            raise ValueError(f'TextSensitivityHook: modes must be in {CAPTION_MODES[1:]}, '
                             f'got {bad}')
        self.modes = tuple(modes)
        self.prefix = prefix

    def after_val_epoch(self, runner, metrics: Dict[str, float] = None) -> None:
        """Evaluate the perturbed captions and add them to ``metrics`` and the logs."""
        model = runner.model
        scores = caption_mode_miou(model, runner.cfg.val_dataloader, self.modes)
        extra = {f'{self.prefix}/{k}': v for k, v in scores.items()}
        true = (metrics or {}).get(f'{self.prefix}/mIoU')
        if true is not None and 'mIoU_shuffled' in scores:
            extra[f'{self.prefix}/text_gap'] = true - scores['mIoU_shuffled']
        for key, value in extra.items():
            runner.message_hub.update_scalar(f'val/{key}', value)
        if metrics is not None:
            metrics.update(extra)
