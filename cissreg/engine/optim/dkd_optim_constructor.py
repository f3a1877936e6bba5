"""``DKDOptimWrapperConstructor``: DKD's parameter groups for a class-incremental segmentor."""
from typing import List

from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor
from torch import nn

from cissreg.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS


def dkd_param_groups(model: nn.Module, lr: float, weight_decay: float,
                     head_lr_mult: float = 10.0) -> List[dict]:
    """DKD's groups (``train_voc.py``) for an ``IncrementalSegmentor`` in its current step.

    Step 0: backbone (``lr``), head (``lr * head_lr_mult``), all classifiers
    (``lr * head_lr_mult``), every group with ``weight_decay``. Steps > 0: backbone, head and
    the old classifiers (incl. the auxiliary one) with weight decay 0, and the new step's
    classifier with ``weight_decay``. Parameters that do not require grad (frozen BN affine)
    are left out; empty groups are dropped.

    Args:
        model (nn.Module): The segmentor (``backbone``, ``decode_head``, ``classifiers``,
            ``step``).
        lr (float): Backbone learning rate.
        weight_decay (float): Weight decay of the decayed groups.
        head_lr_mult (float): Learning-rate factor of head and classifiers. Defaults to 10.

    Returns:
        list[dict]: Param groups with ``params``, ``lr``, ``weight_decay``.
    """
    def trainable(module):
        return [p for p in module.parameters() if p.requires_grad]

    incremental = model.step > 0
    decay_old = 0.0 if incremental else weight_decay
    head_lr = lr * head_lr_mult
    classifiers = model.classifiers
    groups = [dict(params=trainable(model.backbone), lr=lr, weight_decay=decay_old),
              dict(params=trainable(model.decode_head), lr=head_lr, weight_decay=decay_old)]
    if incremental:
        old = [p for c in classifiers[:-1] for p in c.parameters() if p.requires_grad]
        groups += [dict(params=old, lr=head_lr, weight_decay=0.0),
                   dict(params=trainable(classifiers[-1]), lr=head_lr,
                        weight_decay=weight_decay)]
    else:
        groups.append(dict(params=trainable(classifiers), lr=head_lr,
                           weight_decay=weight_decay))
    return [g for g in groups if g['params']]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DKDOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Build the optimizer over :func:`dkd_param_groups`.

    lr and weight decay come from ``optimizer``; ``paramwise_cfg`` may set ``head_lr_mult``
    (default 10) and ``incremental_lr``, the backbone lr of steps > 0 (DKD: 1e-3 in step 0,
    1e-4 later on VOC).

    The ``IncrementalLoop`` builds a fresh optimizer per step through the runner, so the
    groups follow the model's current step.
    """

    def __call__(self, model: nn.Module):
        if is_model_wrapper(model):
            model = model.module
        cfg = self.optimizer_cfg.copy()
        paramwise = self.paramwise_cfg or {}
        lr = cfg['lr']
        if model.step > 0 and paramwise.get('incremental_lr') is not None:
            lr = cfg['lr'] = paramwise['incremental_lr']
        weight_decay = cfg.get('weight_decay', 0.0)
        head_lr_mult = paramwise.get('head_lr_mult', 10.0)
        cfg['params'] = dkd_param_groups(model, lr, weight_decay, head_lr_mult)
        optimizer = OPTIMIZERS.build(cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args=dict(optimizer=optimizer))
