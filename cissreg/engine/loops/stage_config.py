"""Optimizer and scheduler configs of one stage of an :class:`IncrementalLoop` task."""
import copy
from typing import List, Optional


def as_list(cfg) -> List[dict]:
    """A scheduler config (one dict, a list of them or None) as a list of dicts."""
    if cfg is None:
        return []
    return [dict(c) for c in cfg] if isinstance(cfg, (list, tuple)) else [dict(cfg)]


def merge_cfg(base: dict, override: dict) -> dict:
    """``override`` merged into a copy of ``base`` like config inheritance (``_delete_``)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and \
                not value.get('_delete_', False):
            out[key] = merge_cfg(out[key], value)
        elif isinstance(value, dict):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != '_delete_'}
        else:
            out[key] = copy.deepcopy(value)
    return out


def stage_optim_cfg(base: dict, stage: dict, first_task: bool = False) -> dict:
    """The top-level ``optim_wrapper`` with the stage's ``optim_wrapper`` merged over it.

    In the first task a stage's ``init_lr`` (if set) replaces the optimizer's ``lr``, as
    ``init_max_epochs`` replaces ``max_epochs`` (the reference recipe's ``init_lr``).
    """
    cfg = merge_cfg(base, stage.get('optim_wrapper') or {})
    if first_task and stage.get('init_lr') is not None:
        cfg['optimizer']['lr'] = float(stage['init_lr'])
    return cfg


def stage_scheduler_cfgs(base: Optional[list], stage: dict, epochs: int) -> List[dict]:
    """The stage's ``param_scheduler`` (else the top-level one) spanning ``epochs``.

    ``end`` defaults to the stage's epochs and a cosine schedule's ``T_max`` too, so one
    scheduler config serves stages of any length.
    """
    cfgs = copy.deepcopy(as_list(stage.get('param_scheduler', base)))
    for cfg in cfgs:
        if 'Cosine' in str(cfg.get('type')) and 'T_max' not in cfg:
            cfg['T_max'] = epochs
        cfg.setdefault('end', epochs)
    return cfgs
