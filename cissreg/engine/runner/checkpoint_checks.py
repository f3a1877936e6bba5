"""Checks that run before a checkpoint is loaded into the runner, so a mismatch is named."""
from typing import Optional

from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from cissreg.utils.state_dict_check import (CheckpointMismatchError, compare_state_dict,
                                            describe_optimizer_mismatch, ema_weights)


def check_ema_state(filename: str, checkpoint: dict, model: nn.Module, strict: bool,
                    logger) -> None:
    """Compare the checkpoint's ``ema_state_dict`` with ``model`` before ``EMAHook`` loads it.

    mmengine's ``EMAHook`` loads it with ``load_state_dict``, which fails with a bare size
    mismatch. With ``strict`` the differences are raised with the file name; otherwise the
    tensors whose shape differs are dropped from the EMA state (as from the model's).

    Raises:
        CheckpointMismatchError: ``strict`` and the EMA weights do not fit the model.
    """
    ema_state = checkpoint.get('ema_state_dict')
    if not isinstance(ema_state, dict):
        return
    mismatch = compare_state_dict(model, ema_weights(ema_state))
    if not mismatch:
        return
    if strict:
        raise CheckpointMismatchError(
            f'checkpoint {filename}: its EMA weights (ema_state_dict) do not fit the model '
            f'{type(model).__name__}:\n{mismatch.describe()}\nSet load_from_strict = False '
            'in the config to load only the tensors that match.')
    logger.warning(f'Partial load of the EMA weights of {filename} (load_from_strict=False); '
                   f'these keep their initial values:\n{mismatch.describe()}')
    for key, _, _ in mismatch.shapes:
        del ema_state[f'module.{key}']


def check_optimizer_state(filename: str, checkpoint: dict, optim_wrapper) -> None:
    """Refuse to resume an optimizer state that the config's optimizer cannot use.

    Raises:
        CheckpointMismatchError: Names both optimizer types and the differences.
    """
    saved = checkpoint.get('optimizer')
    if saved is None or not isinstance(optim_wrapper, OptimWrapper | OptimWrapperDict):
        return
    wrappers = (optim_wrapper.optim_wrappers if isinstance(optim_wrapper, OptimWrapperDict)
                else {None: optim_wrapper})
    for name, wrapper in wrappers.items():
        state = saved.get(name, {}) if name is not None else saved
        problem = describe_optimizer_mismatch(state, wrapper.optimizer)
        if problem is None:
            continue
        theirs = _saved_optimizer_type(checkpoint, name) or 'another optimizer'
        ours = type(wrapper.optimizer).__name__
        raise CheckpointMismatchError(
            f'cannot resume the optimizer from {filename}: it was saved by {theirs}, and the '
            f'config builds {ours}:\n{problem}\nResume with the optimizer the run was trained '
            f'with, or set resume_optimizer = False in the config to load the weights, '
            f'counters and schedules and start a fresh {ours}.')


def _saved_optimizer_type(checkpoint: dict, name: Optional[str]) -> Optional[str]:
    """The optimizer type in the config stored in the checkpoint's meta, if readable."""
    try:
        cfg = Config.fromstring(checkpoint['meta']['cfg'], file_format='.py')
        optim_cfg = cfg.optim_wrapper if name is None else cfg.optim_wrapper[name]
        return str(optim_cfg.optimizer.type)
    except Exception:  # an old or hand-made checkpoint: the differences still say enough
        return None
