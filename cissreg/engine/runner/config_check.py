"""Checks of a whole runner config before mmengine's Runner reads it.

Two kinds of mistakes pass mmengine silently or with a bare ``TypeError``:

* A misspelled top-level key (``train_cgf = dict(...)``): the Runner reads ``cfg.get(name)``
  for its own arguments only, so the misspelled block is ignored and defaults are used.
  :func:`warn_near_miss_keys` logs a warning naming the argument the key resembles. A config's
  own variables (``base_lr``, ``max_epochs``, ``train_batch_size_per_gpu``) are not near misses
  and stay quiet.
* Loops and the log processor given without ``type`` (``train_cfg = dict(by_epoch=True, ...)``)
  are constructed by the Runner directly, not through a registry, so a misspelled key is a
  bare ``TypeError``. :func:`check_unregistered_builds` raises the same
  :class:`~cissreg.registry.UnexpectedConfigKeyError` as every registry build.
"""
import difflib
import inspect
import logging
from typing import Any, Dict, List, Mapping, Tuple, Type

from mmengine.logging import print_log
from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop, LogProcessor, Runner,
                             TestLoop, ValLoop)

from cissreg.registry import LOG_PROCESSORS, LOOPS, UnexpectedConfigKeyError, accepted_params

# Top-level keys read outside ``Runner.__init__``'s arguments (mmengine's Runner, CissRunner,
# mmengine's Config and tools/).
_OTHER_KNOWN_KEYS = ('runner_type', 'custom_imports', 'model_wrapper_cfg', 'sync_bn',
                     'find_unused_parameters', 'activation_checkpointing',
                     'efficient_conv_bn_eval', 'compile', 'load_from_strict',
                     'resume_optimizer', 'resume_param_scheduler')
_NEAR_MISS_CUTOFF = 0.8


def runner_keys() -> List[str]:
    """Top-level config keys that the Runner (or cissreg around it) reads."""
    params = inspect.signature(Runner.__init__).parameters
    return [name for name in params if name not in ('self', 'cfg')] + list(_OTHER_KNOWN_KEYS)


def near_miss_keys(cfg: Mapping) -> Dict[str, str]:
    """Top-level keys of ``cfg`` that look like a misspelled Runner argument.

    Returns:
        dict[str, str]: Misspelled key -> the argument it resembles.
    """
    known = runner_keys()
    misses = {}
    for key in cfg:
        if key in known or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=_NEAR_MISS_CUTOFF)
        if close:
            misses[key] = close[0]
    return misses


def warn_near_miss_keys(cfg: Mapping) -> None:
    """Log a warning for every top-level key that resembles a Runner argument."""
    for key, argument in near_miss_keys(cfg).items():
        state = 'is also set' if argument in cfg else 'is not set, so its default is used'
        print_log(
            f'Config key {key!r} is not read by the Runner; did you mean {argument!r}? '
            f'({argument!r} {state}.)', logger='current', level=logging.WARNING)


def _unregistered_builds(cfg: Mapping) -> List[Tuple[str, Type, Tuple[str, ...]]]:
    """(config key, class the Runner constructs directly, arguments the Runner passes)."""
    builds = []
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, Mapping) and 'type' not in train_cfg:
        loop = EpochBasedTrainLoop if train_cfg.get('by_epoch', True) else IterBasedTrainLoop
        builds.append(('train_cfg', loop, ('runner', 'dataloader', 'by_epoch')))
    for key, loop in (('val_cfg', ValLoop), ('test_cfg', TestLoop)):
        if isinstance(cfg.get(key), Mapping) and 'type' not in cfg[key]:
            builds.append((key, loop, ('runner', 'dataloader', 'evaluator')))
    if isinstance(cfg.get('log_processor'), Mapping) and 'type' not in cfg['log_processor']:
        builds.append(('log_processor', LogProcessor, ()))
    return builds


def check_unregistered_builds(cfg: Mapping) -> None:
    """Name a key that a directly constructed loop or log processor would refuse.

    Raises:
        UnexpectedConfigKeyError: e.g. ``train_cfg = dict(by_epoch=True, max_epoch=3)``.
    """
    for config_key, cls, set_by_runner in _unregistered_builds(cfg):
        accepted = accepted_params(cls)
        registry = LOG_PROCESSORS if cls is LogProcessor else LOOPS
        for key in cfg[config_key]:
            if key not in accepted and key not in set_by_runner:
                raise UnexpectedConfigKeyError(
                    f'{config_key}: ' + registry.unexpected_key_message(cls, key, set_by_runner))


def check_config(cfg: Any) -> None:
    """Run every check of this module on a runner config (called by ``CissRunner.from_cfg``)."""
    warn_near_miss_keys(cfg)
    check_unregistered_builds(cfg)
