"""cissreg's child registries.

Every registry is a child of mmengine's root registry of the same kind, with scope ``cissreg``
(from ``default_scope = 'cissreg'`` in configs) and ``locations`` so that building a component
from a config imports the modules that register it.

They are :class:`CissRegistry` instances: an unknown ``type=`` raises a :class:`UnknownTypeError`
that names the registry, the closest registered names, another cissreg registry that holds the
name, and any ``locations`` import that failed; a config key that the component does not accept
raises an :class:`UnexpectedConfigKeyError` naming the component, the key and the accepted ones.
"""
import difflib
import inspect
import logging
import re
import traceback
from importlib import import_module
from typing import Any, Dict, List, Optional, Type

from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

_UNEXPECTED_KWARG = re.compile(
    r"^(?P<owner>[\w.<>]+?)(?:\.__init__)?\(\) got an unexpected keyword argument '(?P<key>\w+)'")


class UnknownTypeError(KeyError):
    """``type=`` names nothing registered; the message says what is close."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnexpectedConfigKeyError(TypeError):
    """A config passes a key that the component's constructor does not accept."""


class CissRegistry(Registry):
    """mmengine ``Registry`` whose failures tell the user what to change.

    Lookup and building behave as in mmengine; what differs:

    * ``get`` raises :class:`UnknownTypeError` instead of returning ``None`` for a name that is
      neither registered (here, in a parent, or in a child scope) nor an importable dotted path.
    * A module in ``locations`` that fails to import is logged with its traceback and named in
      later ``UnknownTypeError`` messages; the names it did register stay usable.
    * ``build`` turns "got an unexpected keyword argument" raised by the constructor of the
      config's own ``type`` into :class:`UnexpectedConfigKeyError`.

    Args:
        name (str): Registry name, e.g. ``'model'``.
        parent (Registry): mmengine's root registry of the same kind.
        locations (list[str]): Modules to import before the first lookup.
    """

    def __init__(self, name: str, parent: Registry, locations: List[str]) -> None:
        super().__init__(name, parent=parent, scope='cissreg', locations=locations)
        self._import_errors: Dict[str, str] = {}

    def import_from_location(self) -> None:
        """Import every module in ``locations`` once, recording the ones that fail."""
        if self._imported:
            return
        self._imported = True
        for location in self._locations:
            try:
                import_module(location)
            except Exception as err:  # noqa: BLE001 - recorded, logged and reported on lookup
                self._import_errors[location] = f'{type(err).__name__}: {err}'
                print_log(
                    f'{self.scope}::{self.name} registry: importing {location!r} failed; components '
                    f'registered there are unavailable.\n{traceback.format_exc()}',
                    logger='current', level=logging.WARNING)

    def get(self, key: str) -> Type:
        """Return the class or function registered as ``key``.

        Raises:
            UnknownTypeError: ``key`` resolves to nothing.
        """
        obj = super().get(key)
        if obj is None:
            raise UnknownTypeError(self._unknown_key_message(key))
        return obj

    def __contains__(self, key: str) -> bool:
        try:
            return super().get(key) is not None
        except RuntimeError:
            return False

    def build(self, cfg: Any, *args, **kwargs) -> Any:
        """Build ``cfg`` like mmengine, naming config keys the component does not accept."""
        try:
            return super().build(cfg, *args, **kwargs)
        except UnexpectedConfigKeyError:
            raise
        except TypeError as err:
            message = self._unexpected_key_message(err, cfg)
            if message is None:
                raise
            raise UnexpectedConfigKeyError(message) from err

    def visible_names(self) -> List[str]:
        """Names that ``get`` resolves: own, ancestors' and ``scope.name`` of child scopes."""
        names = list(self._module_dict)
        parent = self.parent
        while parent is not None:
            names.extend(parent._module_dict)
            parent = parent.parent
        stack = list(self._children.values())
        while stack:
            child = stack.pop()
            names.extend(f'{child.scope}.{name}' for name in child._module_dict)
            stack.extend(child._children.values())
        return sorted(set(names))

    def _unknown_key_message(self, key: str) -> str:
        real_key = self.split_scope_key(key)[1]
        lines = [f'{key!r} is not in the {self.scope}::{self.name} registry.']
        close = _close_names(real_key, self.visible_names())
        if close:
            lines[0] += ' Did you mean: ' + ', '.join(repr(n) for n in close) + '?'
        holders = [f'{r.scope}::{r.name}' for r in _all_registries()
                   if r is not self and _holds(r, real_key)]
        if holders:
            lines.append(f'{real_key!r} is registered in {", ".join(holders)}: check that the '
                         'config puts it where that kind of component is built.')
        for location, error in self._import_errors.items():
            lines.append(f'Importing {location!r} failed ({error}); components registered '
                         'there are missing.')
        lines.append("If it is your own component, import its module from the config: "
                     "custom_imports = dict(imports=['my_pkg.my_module'], "
                     'allow_failed_imports=False).')
        return '\n'.join(lines)

    def _unexpected_key_message(self, err: TypeError, cfg: Any) -> Optional[str]:
        match = _UNEXPECTED_KWARG.match(str(err))
        if match is None or not isinstance(cfg, dict) or match['key'] not in cfg:
            return None
        obj_cls = cfg.get('type')
        if obj_cls is None:
            return None
        if isinstance(obj_cls, str):
            with self.switch_scope_and_registry(cfg.get('_scope_')) as registry:
                obj_cls = registry.get(obj_cls)
        owners = inspect.getmro(obj_cls) if inspect.isclass(obj_cls) else (obj_cls, )
        if match['owner'] not in {getattr(o, '__qualname__', None) for o in owners}:
            return None
        params = _accepted_params(obj_cls)
        message = (f'{obj_cls.__name__} ({self.scope}::{self.name} registry) does not accept the '
                   f'config key {match["key"]!r}.')
        close = _close_names(match['key'], params)
        if close:
            message += ' Did you mean: ' + ', '.join(repr(n) for n in close) + '?'
        return message + f' It accepts: {", ".join(params)}.'


def _close_names(key: str, names: List[str], n: int = 5) -> List[str]:
    """Names closest to ``key`` ignoring case (and a ``scope.`` prefix), best first."""
    by_lower: Dict[str, List[str]] = {}
    for name in names:
        by_lower.setdefault(name.rsplit('.', 1)[-1].lower(), []).append(name)
    matches = difflib.get_close_matches(key.lower(), list(by_lower), n=n, cutoff=0.6)
    return [name for lower in matches for name in by_lower[lower]][:n]


def _accepted_params(obj_cls: Any) -> List[str]:
    """Keyword names a class (following ``**kwargs`` up its MRO) or function accepts."""
    params: List[str] = []
    inits = ([c.__dict__['__init__'] for c in inspect.getmro(obj_cls) if '__init__' in c.__dict__]
             if inspect.isclass(obj_cls) else [obj_cls])
    for init in inits:
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            break
        kinds = {p.kind for p in signature.parameters.values()}
        for name, p in signature.parameters.items():
            keyword = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            if keyword and name != 'self' and name not in params:
                params.append(name)
        if inspect.Parameter.VAR_KEYWORD not in kinds:
            break
    return params


def _holds(registry: Registry, key: str) -> bool:
    """Whether ``key`` is registered in ``registry`` or one of its ancestors."""
    while registry is not None:
        if key in registry._module_dict:
            return True
        registry = registry.parent
    return False


def _all_registries() -> List[CissRegistry]:
    return [r for r in globals().values() if isinstance(r, CissRegistry)]


RUNNERS = CissRegistry('runner', parent=MMENGINE_RUNNERS, locations=['cissreg.engine'])
LOOPS = CissRegistry('loop', parent=MMENGINE_LOOPS, locations=['cissreg.engine'])
HOOKS = CissRegistry('hook', parent=MMENGINE_HOOKS, locations=['cissreg.engine'])
LOG_PROCESSORS = CissRegistry(
    'log_processor', parent=MMENGINE_LOG_PROCESSORS, locations=['cissreg.engine'])
OPTIMIZERS = CissRegistry('optimizer', parent=MMENGINE_OPTIMIZERS, locations=['cissreg.engine'])
OPTIM_WRAPPERS = CissRegistry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, locations=['cissreg.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = CissRegistry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['cissreg.engine'])
PARAM_SCHEDULERS = CissRegistry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, locations=['cissreg.engine'])
MODEL_WRAPPERS = CissRegistry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, locations=['cissreg.engine'])

DATASETS = CissRegistry('dataset', parent=MMENGINE_DATASETS, locations=['cissreg.datasets'])
DATA_SAMPLERS = CissRegistry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, locations=['cissreg.datasets'])
TRANSFORMS = CissRegistry(
    'transform', parent=MMENGINE_TRANSFORMS, locations=['cissreg.datasets'])

MODELS = CissRegistry('model', parent=MMENGINE_MODELS, locations=['cissreg.models'])
TASK_UTILS = CissRegistry(
    'task util', parent=MMENGINE_TASK_UTILS, locations=['cissreg.models'])
WEIGHT_INITIALIZERS = CissRegistry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, locations=['cissreg.models'])

METRICS = CissRegistry('metric', parent=MMENGINE_METRICS, locations=['cissreg.evaluation'])
EVALUATOR = CissRegistry(
    'evaluator', parent=MMENGINE_EVALUATOR, locations=['cissreg.evaluation'])

VISUALIZERS = CissRegistry(
    'visualizer', parent=MMENGINE_VISUALIZERS, locations=['cissreg.visualization'])
VISBACKENDS = CissRegistry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, locations=['cissreg.visualization'])

FUNCTIONS = CissRegistry('function', parent=MMENGINE_FUNCTIONS, locations=['cissreg.datasets'])
