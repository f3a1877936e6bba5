"""``NominalBatchOptimWrapperConstructor``: ultralytics' optimizer setup for YOLOv8.

What ultralytics' ``BaseTrainer`` does before training, as a registered constructor:

* ``accumulate = max(round(nominal_batch_size / B), 1)`` with ``B`` = batch per GPU x world
  size, and ``weight_decay *= B * accumulate / nominal_batch_size`` (``nbs = 64``), so the
  decay per image seen is the same at any batch size and GPU count;
* three parameter groups in ultralytics' order: 0 = every parameter whose name contains
  ``bias`` (no decay; warm-up raises its lr from ``warmup_bias_lr``), 1 = other weights (with
  the scaled decay), 2 = weights of normalisation layers (no decay);
* ``optimizer=dict(type='auto')``: AdamW with ``lr = round(0.002 * 5 / (4 + num_classes), 6)``
  and beta1 0.9 for runs of at most 10k nominal-batch iterations, otherwise SGD lr 0.01
  momentum 0.937 (nesterov): ultralytics builds that SGD with momentum 0.9, but its warm-up
  raises the momentum to ``args.momentum`` (0.937) and leaves it there, so 0.937 is the
  momentum it trains with; as in ultralytics, warm-up starts the bias lr at 0 instead of
  ``warmup_bias_lr`` (the group carries ``warmup_bias_lr=0.0``). ``auto_cfg`` needs
  ``num_classes``, ``num_images`` and ``max_epochs``; ``CissRunner`` fills the missing ones
  when it builds the optimizer (see :func:`fill_auto_cfg`), so a config leaves them out and
  ``--cfg-options train_cfg.max_epochs=N`` changes the choice;
* AMP by default on GPU (``amp='auto'``: mixed precision when the model is on CUDA).

The optimizer wrapper is a :class:`NominalBatchOptimWrapper` (or its AMP variant) with
``accumulative_counts = accumulate``: gradients are summed over ``accumulate`` batches and
one step is taken, as ultralytics does.
"""
import math
from typing import List, Optional, Tuple

import torch
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from torch import nn

from cissreg.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

from .nominal_batch_optim_wrapper import (NominalBatchAmpOptimWrapper, NominalBatchOptimWrapper,
                                          nominal_batch_scaling)

__all__ = ['NominalBatchOptimWrapperConstructor', 'fill_auto_cfg', 'nominal_batch_scaling',
           'ultralytics_param_groups']
AUTO_KEYS = ('num_classes', 'num_images', 'max_epochs')

_FP32_TYPES = (None, 'OptimWrapper', 'NominalBatchOptimWrapper')
_AMP_TYPES = ('AmpOptimWrapper', 'NominalBatchAmpOptimWrapper')
_NORM_TYPES = tuple(v for k, v in nn.__dict__.items() if 'Norm' in k and isinstance(v, type))


def fill_auto_cfg(optim_wrapper_cfg: dict, **found) -> dict:
    """``optim_wrapper_cfg`` with ``auto_cfg`` completed for ``optimizer=dict(type='auto')``.

    Args:
        optim_wrapper_cfg (dict): The config's ``optim_wrapper``.
        **found: ``num_classes``, ``num_images`` (training images) and ``max_epochs`` of the
            run; a value the config's ``auto_cfg`` gives wins. None where unknown.

    Returns:
        dict: A copy with the completed ``auto_cfg``; the input itself when its optimizer is
        not ``'auto'``.

    Raises:
        ValueError: A key is neither in ``auto_cfg`` nor found.
    """
    if (optim_wrapper_cfg.get('optimizer') or {}).get('type') != 'auto':
        return optim_wrapper_cfg
    cfg = dict(optim_wrapper_cfg)
    auto_cfg = dict(cfg.get('auto_cfg') or {})
    unknown = sorted(set(auto_cfg) - set(AUTO_KEYS))
    if unknown:
        raise ValueError(f'optim_wrapper.auto_cfg: unknown keys {unknown}; it takes {AUTO_KEYS}')
    for key in AUTO_KEYS:
        if auto_cfg.get(key) is None:
            if found.get(key) is None:
                raise ValueError(f"optimizer type 'auto' needs optim_wrapper.auto_cfg.{key}: "
                                 'give it, or train with CissRunner, which reads it from the '
                                 'run (train_cfg.max_epochs, the train dataset, the head)')
            auto_cfg[key] = int(found[key])
    cfg['auto_cfg'] = auto_cfg
    return cfg


def ultralytics_param_groups(model: nn.Module) -> Tuple[List, List, List]:
    """Split parameters as ultralytics' ``build_optimizer``: (biases, weights, norm weights).

    A parameter goes to biases when its full name contains ``bias``, else to norm weights when
    its module is a ``torch.nn`` normalisation layer, else to weights.
    """
    biases, weights, norms = [], [], []
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            fullname = f'{module_name}.{param_name}' if module_name else param_name
            if 'bias' in fullname:
                biases.append(param)
            elif isinstance(module, _NORM_TYPES):
                norms.append(param)
            else:
                weights.append(param)
    return biases, weights, norms


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class NominalBatchOptimWrapperConstructor:
    """Build ultralytics' optimizer (groups, nominal batch, 'auto') as an mmengine wrapper.

    Config (``optim_wrapper``)::

        optim_wrapper = dict(
            constructor='NominalBatchOptimWrapperConstructor',
            batch_size_per_gpu=16,          # optional, see below
            nominal_batch_size=64,          # ultralytics nbs
            optimizer=dict(type='SGD', lr=0.01, momentum=0.937, nesterov=True,
                           weight_decay=0.0005),
            clip_grad=dict(max_norm=10.0))

    Args:
        optim_wrapper_cfg (dict): ``optimizer`` (``type`` any torch optimizer or ``'auto'``;
            ``weight_decay`` is the per-64-images value), ``batch_size_per_gpu`` (the train
            dataloader's; ``YOLOv8ParamSchedulerHook`` re-applies the scaling from the real
            dataloader when training starts, so it may be omitted with that hook; without
            hook and value the batch is taken as 64), ``nominal_batch_size`` (default 64),
            ``amp`` (``'auto'``, True or False; default ``'auto'``), ``auto_cfg`` (for
            ``type='auto'``: ``num_classes``, ``num_images``, ``max_epochs``; ``CissRunner``
            fills the missing ones from the run), ``type`` (default the fp32 / AMP
            nominal-batch wrapper) and the wrapper's other arguments (``clip_grad``...).
        paramwise_cfg (dict, optional): Not supported (the groups are ultralytics'); must be
            None or empty.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg:
            raise ValueError('NominalBatchOptimWrapperConstructor: paramwise_cfg is not '
                             'supported (parameter groups follow ultralytics); remove it')
        cfg = dict(optim_wrapper_cfg)
        self.nominal_batch_size = int(cfg.pop('nominal_batch_size', 64))
        batch = cfg.pop('batch_size_per_gpu', None)
        self.batch_size_per_gpu = None if batch is None else int(batch)
        self.amp = cfg.pop('amp', 'auto')
        self.auto_cfg = cfg.pop('auto_cfg', None)
        self.optimizer_cfg = dict(cfg.pop('optimizer'))
        if cfg.get('type') not in _FP32_TYPES + _AMP_TYPES:
            raise ValueError(f"NominalBatchOptimWrapperConstructor: optim_wrapper type "
                             f"{cfg.get('type')!r} is not one of {_FP32_TYPES + _AMP_TYPES}")
        self.wrapper_cfg = cfg

    def _resolve_auto(self, total_batch: int) -> Tuple[dict, bool]:
        """ultralytics' ``optimizer='auto'`` choice; returns (optimizer cfg, is_auto)."""
        opt = dict(self.optimizer_cfg)
        if opt['type'] != 'auto':
            return opt, False
        missing = [k for k in AUTO_KEYS if (self.auto_cfg or {}).get(k) is None]
        if missing:
            raise ValueError(f"optimizer type 'auto' needs optim_wrapper.auto_cfg.{missing}: "
                             'give them, or train with CissRunner, which fills them from the '
                             'run (train_cfg.max_epochs, the train dataset, the head)')
        iterations = math.ceil(self.auto_cfg['num_images'] / max(
            total_batch, self.nominal_batch_size)) * self.auto_cfg['max_epochs']
        decay = opt.get('weight_decay', 0.0005)
        if iterations > 10000:
            opt = dict(type='SGD', lr=0.01, momentum=0.937, nesterov=True, weight_decay=decay)
        else:
            lr = round(0.002 * 5 / (4 + self.auto_cfg['num_classes']), 6)
            opt = dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=decay)
        print_log(f"optimizer 'auto' ({iterations} iterations): {opt}", logger='current')
        return opt, True

    def __call__(self, model: nn.Module):
        """Build the wrapper for ``model`` (unwrapped from DDP)."""
        if hasattr(model, 'module'):
            model = model.module
        total_batch = self.nominal_batch_size if self.batch_size_per_gpu is None else \
            self.batch_size_per_gpu * get_world_size()
        opt, is_auto = self._resolve_auto(total_batch)
        weight_decay = opt.pop('weight_decay', 0.0)
        biases, weights, norms = ultralytics_param_groups(model)
        bias_group = dict(params=biases, weight_decay=0.0, name='bias')
        if is_auto:
            bias_group['warmup_bias_lr'] = 0.0
        opt['params'] = [bias_group,
                         dict(params=weights, weight_decay=weight_decay, name='weight',
                              nominal_weight_decay=weight_decay),
                         dict(params=norms, weight_decay=0.0, name='norm')]
        optimizer = OPTIMIZERS.build(opt)
        wrapper_cfg = dict(self.wrapper_cfg)
        wrapper_type = wrapper_cfg.pop('type', None)
        on_cuda = any(p.is_cuda for p in model.parameters())
        use_amp = wrapper_type in _AMP_TYPES or (
            wrapper_type in _FP32_TYPES[:2] and (self.amp is True or (
                self.amp == 'auto' and on_cuda and torch.cuda.is_available())))
        wrapper_cls = NominalBatchAmpOptimWrapper if use_amp else NominalBatchOptimWrapper
        if not use_amp:
            wrapper_cfg.pop('loss_scale', None)
        wrapper = OPTIM_WRAPPERS.build(dict(type=wrapper_cls, optimizer=optimizer, **wrapper_cfg))
        wrapper.configure_nominal_batch(total_batch, self.nominal_batch_size)
        if self.batch_size_per_gpu is None:
            print_log(f'nominal batch {self.nominal_batch_size}: no batch_size_per_gpu, so '
                      'accumulate and weight decay are set from the train dataloader when '
                      f'training starts (YOLOv8ParamSchedulerHook) ({wrapper_cls.__name__})',
                      logger='current')
        else:
            print_log(f'nominal batch {self.nominal_batch_size}: {total_batch} images per '
                      f'iteration, accumulate {wrapper.accumulate}, weight decay '
                      f"{optimizer.param_groups[1]['weight_decay']:.6g} "
                      f'({wrapper_cls.__name__})', logger='current')
        return wrapper
