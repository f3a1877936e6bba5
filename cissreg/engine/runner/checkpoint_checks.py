"""Checks that run before a checkpoint is loaded into the runner, so a mismatch is named."""
import re
from typing import Any, List, Optional, Tuple, Union

from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from cissreg.utils.state_dict_check import (CheckpointMismatchError, compare_state_dict,
                                            describe_optimizer_mismatch, ema_weights)

from .saved_config import saved_config_value, saved_scheduler_types


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

    The optimizer type of the run is read from the config text in the checkpoint's meta (as
    data: :mod:`.saved_config`); a different type is refused even when the state layout
    fits (``Adam`` over an ``AdamW`` run loads without error and trains differently).

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
        theirs = _saved_optimizer_type(checkpoint, name)
        ours = type(wrapper.optimizer).__name__
        if problem is None and theirs is not None and theirs.rsplit('.', 1)[-1] != ours:
            problem = (f'the states have the same layout, but {theirs} and {ours} update the '
                       'weights differently')
        if problem is None:
            continue
        raise CheckpointMismatchError(
            f'cannot resume the optimizer from {filename}: it was saved by '
            f'{theirs or "another optimizer"}, and the config builds {ours}:\n{problem}\n'
            'Resume with the optimizer the run was trained with, or set resume_optimizer = '
            'False in the config to load the weights, counters and schedules and start a '
            f'fresh {ours}.')


# scheduler state entries that change while training (not settings of the schedule)
_SCHEDULER_COUNTERS = frozenset({'last_step', '_global_step', '_last_value', 'base_values',
                                 '_get_value_called_within_step', 'last_epoch'})


def check_scheduler_state(filename: str, checkpoint: dict, schedulers: Union[list, dict],
                          logger) -> List[Tuple[Any, dict]]:
    """Pair the config's parameter schedulers with the states saved in the checkpoint.

    mmengine zips them without checking, so a ``MultiStepLR`` would take a ``LinearLR``'s
    state (and its milestones would never fire). Types are read from the checkpoint's config
    text (as data) and, failing that, told apart by their state entries. A scheduler of the
    same type whose settings changed (e.g. ``milestones``) takes the saved settings, with a
    warning naming them.

    Args:
        filename (str): Checkpoint path (for messages).
        checkpoint (dict): The loaded checkpoint with ``param_schedulers``.
        schedulers (list | dict[str, list]): The built schedulers.
        logger: Where the changed-settings warning goes.

    Returns:
        list[tuple[scheduler, dict]]: Each scheduler with the state to load into it.

    Raises:
        CheckpointMismatchError: Another number or type of schedulers, named in one line.
    """
    saved = checkpoint['param_schedulers']
    groups = schedulers.items() if isinstance(schedulers, dict) else [(None, schedulers)]
    saved_types = saved_scheduler_types(checkpoint.get('meta', {}).get('cfg'))
    pairs = []
    for name, own in groups:
        theirs = saved.get(name, []) if isinstance(saved, dict) and name is not None else saved
        own_types = [type(scheduler).__name__ for scheduler in own]
        if name is None and saved_types is not None and len(saved_types) == len(theirs):
            their_types = [t.rsplit('.', 1)[-1] for t in saved_types]
        else:
            their_types = ['?'] * len(theirs)
        mismatch = len(own) != len(theirs) or any(
            t not in ('?', o) for t, o in zip(their_types, own_types))
        changed = []
        if not mismatch:
            for scheduler, state in zip(own, theirs):
                own_state = scheduler.state_dict()
                if set(own_state) != set(state):
                    mismatch = True
                    break
                changed += [f'{type(scheduler).__name__}.{key}: checkpoint {state[key]!r}, '
                            f'config {own_state[key]!r}' for key in sorted(own_state)
                            if key not in _SCHEDULER_COUNTERS
                            and repr(own_state[key]) != repr(state[key])]
        if mismatch:
            where = f' ({name})' if name is not None else ''
            raise CheckpointMismatchError(
                f'cannot resume the parameter schedulers{where} from {filename}: it holds '
                f'{len(theirs)} scheduler state(s) [{", ".join(their_types)}], and the config '
                f'builds [{", ".join(own_types)}]. Resume with the param_scheduler the run was '
                'trained with, or set resume_param_scheduler = False in the config to start '
                'the new schedules from their beginning.')
        if changed:
            logger.warning(f'param_scheduler settings differ from {filename}; the resumed run '
                           'keeps the checkpoint\'s: ' + '; '.join(changed))
        pairs += list(zip(own, theirs))
    return pairs


def _saved_optimizer_type(checkpoint: dict, name: Optional[str]) -> Optional[str]:
    """The optimizer type recorded in the checkpoint's meta (``optimizer_types``, written by
    :class:`CissRunner`), else the one in its config text, if literal.

    The text is parsed, never evaluated: whoever wrote the checkpoint controls it.
    """
    meta = checkpoint.get('meta')
    meta = meta if isinstance(meta, dict) else {}
    # the class that was built when the checkpoint was written (a loop may build a stage's
    # own optimizer, which the top-level config text does not name); else the config text
    built = meta.get('optimizer_types')
    value = built.get(name or '') if isinstance(built, dict) else None
    if value is None:
        path = ('optim_wrapper', 'optimizer', 'type') if name is None else (
            'optim_wrapper', name, 'optimizer', 'type')
        value = saved_config_value(meta.get('cfg'), path)
    # a type name only: other text from the checkpoint is not echoed into messages
    return value if isinstance(value, str) and re.fullmatch(r'[\w.]{1,100}', value) else None
