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
* Sections the Runner passes on as keyword arguments (``train_dataloader`` to ``DataLoader``,
  ``optim_wrapper.clip_grad`` to ``clip_grad_norm_``, ``randomness`` to ``set_randomness``)
  fail with a bare ``TypeError``, and sections read with ``.get`` (``env_cfg``,
  ``optim_wrapper.paramwise_cfg``) ignore a misspelled key. :func:`check_sections` raises
  (first kind) or warns (second kind), naming the closest accepted key.
"""
import difflib
import inspect
import logging
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Type

from mmengine.logging import print_log
from mmengine.runner import (EpochBasedTrainLoop, IterBasedTrainLoop, LogProcessor, Runner,
                             TestLoop, ValLoop)
from torch.nn.utils import clip_grad_norm_, clip_grad_value_
from torch.utils.data import DataLoader

from cissreg.registry import LOG_PROCESSORS, LOOPS, UnexpectedConfigKeyError, accepted_params
from cissreg.utils.config_keys import unknown_key_note, warn_unknown_keys

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


# keys mmengine's build_dataloader takes out before calling DataLoader(**rest)
_DATALOADER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn', 'worker_init_fn',
                    'num_batch_per_epoch', 'disable_subprocess_warning')
# keys read with .get: by mmengine's Runner.setup_env (+ CissRunner: dist_cfg.port) and by
# mmengine's DefaultOptimWrapperConstructor
_ENV_CFG_KEYS = ('cudnn_benchmark', 'mp_cfg', 'dist_cfg', 'resource_limit')
_PARAMWISE_KEYS = ('bias_lr_mult', 'bias_decay_mult', 'norm_decay_mult', 'dwconv_decay_mult',
                   'flat_decay_mult', 'dcn_offset_lr_mult', 'custom_keys', 'bypass_duplicate')


def _sections(cfg: Mapping) -> List[Tuple[str, Mapping, Sequence[str], bool]]:
    """(config path, the dict, the keys it accepts, True when a wrong key is an error)."""
    out = []
    loader_keys = tuple(dict.fromkeys(accepted_params(DataLoader) + list(_DATALOADER_KEYS)))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if isinstance(cfg.get(name), Mapping):
            out.append((name, cfg[name], loader_keys, True))
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, Mapping):
        clip = optim.get('clip_grad')
        if isinstance(clip, Mapping):
            fn = clip_grad_value_ if clip.get('type') == 'value' else clip_grad_norm_
            keys = tuple(p for p in accepted_params(fn) if p != 'parameters') + ('type', )
            out.append(('optim_wrapper.clip_grad', clip, keys, True))
        paramwise = optim.get('paramwise_cfg')
        if isinstance(paramwise, Mapping) and optim.get(
                'constructor', 'DefaultOptimWrapperConstructor') in (
                    'DefaultOptimWrapperConstructor', 'mmengine.DefaultOptimWrapperConstructor'):
            out.append(('optim_wrapper.paramwise_cfg', paramwise, _PARAMWISE_KEYS, False))
    if isinstance(cfg.get('randomness'), Mapping):
        keys = tuple(p for p in accepted_params(Runner.set_randomness) if p != 'self')
        out.append(('randomness', cfg['randomness'], keys, True))
    if isinstance(cfg.get('env_cfg'), Mapping):
        out.append(('env_cfg', cfg['env_cfg'], _ENV_CFG_KEYS, False))
    return out


def check_sections(cfg: Mapping) -> None:
    """Name a misspelled key of a section the Runner passes on or reads with ``.get``.

    Raises:
        UnexpectedConfigKeyError: A key the section's consumer would refuse with a bare
            ``TypeError`` (``train_dataloader.batch_sise``, ``randomness.seeed``,
            ``optim_wrapper.clip_grad.max_nrom``).
    """
    for path, section, known, fatal in _sections(cfg):
        for key in section:
            if key in known:
                continue
            if not fatal:
                warn_unknown_keys({key: None}, known, path)
                continue
            raise UnexpectedConfigKeyError(f'{path} does not accept the key '
                                           + unknown_key_note(key, known))


def check_config(cfg: Any) -> None:
    """Run every check of this module on a runner config (called by ``CissRunner.from_cfg``)."""
    warn_near_miss_keys(cfg)
    check_unregistered_builds(cfg)
    check_sections(cfg)
