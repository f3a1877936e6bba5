"""cissreg's child registries.

Every registry is a child of mmengine's root registry of the same kind, with scope ``cissreg``
(from ``default_scope = 'cissreg'`` in configs) and ``locations`` so that building a component
from a config imports what registers it.

They are :class:`CissRegistry` instances. ``get`` keeps mmengine's contract (``None`` for an
unknown name); building from a config is where errors are made actionable: an unknown ``type=``
raises :class:`UnknownTypeError` naming the registry, the closest registered names, another
cissreg registry that holds the name, and any ``locations`` import that failed; a config key
that the component does not accept raises :class:`UnexpectedConfigKeyError` naming the
component, the key, the accepted keys and the closest one.

mmengine's Runner builds hooks, datasets, samplers, transforms, metrics, loops, optimisers,
optim wrappers, schedulers and visualizers through mmengine's *root* registries, which switch to
the ``cissreg`` child only after the build has started. Importing this module changes nothing in
mmengine's root registries besides adding the children; so that builds through them give the
same errors, :func:`translate_root_build_errors` (called by
:func:`cissreg.utils.register_all_modules`) wraps each parent's ``build_func`` once: errors of
a build that resolved to a cissreg registry are translated, every other scope is left exactly as
mmengine raises it.
"""
import difflib
import functools
import inspect
import logging
import re
import traceback
from importlib import import_module
from typing import Any, Callable, Dict, List, Optional, Sequence

from mmengine import registry as mm
from mmengine.logging import print_log
from mmengine.registry import Registry

_UNEXPECTED_KWARG = re.compile(
    r"^(?P<owner>[\w.<>]+?)(?:\.__init__)?\(\) got an unexpected keyword argument '(?P<key>\w+)'")
_NO_ARGUMENTS = re.compile(r'^(?P<owner>[\w.<>]+?)\(\) takes no arguments$')


class UnknownTypeError(KeyError):
    """``type=`` names nothing registered; the message says what is close."""

    def __str__(self) -> str:
        return str(self.args[0])


class UnexpectedConfigKeyError(TypeError):
    """A config passes a key that the component's constructor does not accept."""


class CissRegistry(Registry):
    """mmengine ``Registry`` whose build failures tell the user what to change.

    Lookup and building behave as in mmengine (``get`` returns ``None`` for an unknown name);
    what differs:

    * Building a config whose ``type`` resolves to nothing raises :class:`UnknownTypeError`
      (a ``KeyError``) with the closest names, instead of mmengine's bare ``KeyError``.
    * A module in ``locations`` that fails to import is logged with its traceback and named in
      later ``UnknownTypeError`` messages; the names it did register stay usable.
    * "got an unexpected keyword argument" raised by the constructor of the config's own
      ``type`` becomes :class:`UnexpectedConfigKeyError` (a ``TypeError``).

    Both hold for builds through this registry, and, once :func:`translate_root_build_errors`
    has run, through its mmengine parent (as the Runner builds) whenever the scope resolves here.

    Args:
        name (str): Registry name, e.g. ``'model'``.
        parent (Registry): mmengine's root registry of the same kind.
        locations (list[str]): Modules to import before the first lookup.
    """

    def __init__(self, name: str, parent: Registry, locations: List[str]) -> None:
        super().__init__(name, parent=parent, scope='cissreg', locations=locations,
                         build_func=_translating_errors(parent.build_func))
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
                    f'{self.scope}::{self.name} registry: importing {location!r} failed; '
                    'components registered there are unavailable.\n'
                    f'{traceback.format_exc()}',
                    logger='current', level=logging.WARNING)

    def __contains__(self, key: str) -> bool:
        try:
            return self.get(key) is not None
        except RuntimeError:  # mmengine's get: a dotted path that fails to import
            return False

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

    def unexpected_key_message(self, obj_cls: Any, key: str,
                               set_by_caller: Sequence[str] = ()) -> str:
        """Say that ``obj_cls`` does not accept the config key ``key``, and what it accepts.

        Args:
            obj_cls (type | callable): The component the config builds.
            key (str): The key it refused.
            set_by_caller (Sequence[str]): Arguments the builder passes itself (e.g. a loop's
                ``runner``); left out of the accepted keys. Defaults to ().
        """
        params = [p for p in accepted_params(obj_cls) if p not in set_by_caller]
        message = (f'{obj_cls.__name__} ({self.scope}::{self.name} registry) does not accept the '
                   f'config key {key!r}.')
        close = _close_names(key, params)
        if close:
            message += ' Did you mean: ' + ', '.join(repr(n) for n in close) + '?'
        return message + f' It accepts: {", ".join(params)}.'

    def _unexpected_key_message(self, err: TypeError, cfg: Any, obj_type: Any,
                                set_by_caller: Sequence[str]) -> Optional[str]:
        """The message for ``err`` if the config's own ``type`` refused one of its keys."""
        match = _UNEXPECTED_KWARG.match(str(err)) or _NO_ARGUMENTS.match(str(err))
        if match is None or obj_type is None:
            return None
        obj_cls = self.get(obj_type) if isinstance(obj_type, str) else obj_type
        if obj_cls is None:
            return None
        owners = inspect.getmro(obj_cls) if inspect.isclass(obj_cls) else (obj_cls, )
        if match['owner'] not in {getattr(o, '__qualname__', None) for o in owners}:
            return None  # raised by something the component builds: not this config's key
        params = accepted_params(obj_cls)
        key = match.groupdict().get('key') or next(
            (k for k in cfg if k not in params and k not in ('type', '_scope_')), None)
        if key is None or key not in cfg:
            return None
        return self.unexpected_key_message(obj_cls, key, set_by_caller)


def translate_root_build_errors() -> None:
    """Make builds through mmengine's root registries raise cissreg's errors (idempotent).

    Wraps the ``build_func`` of the parent of every cissreg registry; builds whose scope does not
    resolve to a cissreg registry behave exactly as before.
    """
    for registry in _all_registries():
        registry.parent.build_func = _translating_errors(registry.parent.build_func)


def root_build_errors_translated() -> bool:
    """Whether :func:`translate_root_build_errors` has wrapped every parent registry."""
    return all(getattr(r.parent.build_func, 'translates_cissreg_errors', False)
               for r in _all_registries())


def _translating_errors(build_func: Callable) -> Callable:
    """Wrap a registry's ``build_func`` so cissreg-scoped failures raise cissreg's errors."""
    if getattr(build_func, 'translates_cissreg_errors', False):
        return build_func

    @functools.wraps(build_func)
    def build(cfg: Any, *args, registry: Registry, **kwargs) -> Any:
        try:
            return build_func(cfg, *args, registry=registry, **kwargs)
        except (UnknownTypeError, UnexpectedConfigKeyError):
            raise
        except (KeyError, TypeError, RuntimeError) as err:
            translated = _translate(err, cfg, registry, kwargs.get('default_args'))
            if translated is None:
                raise
            if isinstance(translated, UnknownTypeError):
                raise translated from None  # mmengine's KeyError says less
            raise translated from err

    build.translates_cissreg_errors = True
    return build


def _translate(err: Exception, cfg: Any, registry: Registry,
               default_args: Optional[dict]) -> Optional[Exception]:
    """cissreg's error for a failed build of ``cfg``, or None to keep ``err``."""
    if not hasattr(cfg, 'get'):
        return None  # e.g. a list of model configs (nn.Sequential)
    default_args = default_args or {}
    obj_type = cfg.get('type', default_args.get('type'))
    with registry.switch_scope_and_registry(cfg.get('_scope_')) as resolved:
        if not isinstance(resolved, CissRegistry):
            return None
        if isinstance(err, TypeError):
            message = resolved._unexpected_key_message(err, cfg, obj_type, list(default_args))
            return None if message is None else UnexpectedConfigKeyError(message)
        if isinstance(obj_type, str) and obj_type not in resolved:
            return UnknownTypeError(resolved._unknown_key_message(obj_type))
    return None


def _close_names(key: str, names: List[str], n: int = 5) -> List[str]:
    """Names closest to ``key`` ignoring case (and a ``scope.`` prefix), best first."""
    by_lower: Dict[str, List[str]] = {}
    for name in names:
        by_lower.setdefault(name.rsplit('.', 1)[-1].lower(), []).append(name)
    matches = difflib.get_close_matches(key.lower(), list(by_lower), n=n, cutoff=0.6)
    return [name for lower in matches for name in by_lower[lower]][:n]


def accepted_params(obj_cls: Any) -> List[str]:
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


def _child(parent: Registry, *packages: str) -> CissRegistry:
    """The cissreg child of mmengine's root registry ``parent`` (same name), whose components
    are registered by importing ``cissreg.<package>`` for each of ``packages``."""
    return CissRegistry(parent.name, parent=parent,
                        locations=[f'cissreg.{package}' for package in packages])


RUNNERS = _child(mm.RUNNERS, 'engine')
LOOPS = _child(mm.LOOPS, 'engine')
HOOKS = _child(mm.HOOKS, 'engine')
LOG_PROCESSORS = _child(mm.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _child(mm.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _child(mm.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _child(mm.OPTIM_WRAPPER_CONSTRUCTORS, 'engine')
PARAM_SCHEDULERS = _child(mm.PARAM_SCHEDULERS, 'engine')
MODEL_WRAPPERS = _child(mm.MODEL_WRAPPERS, 'engine')
DATASETS = _child(mm.DATASETS, 'datasets')
DATA_SAMPLERS = _child(mm.DATA_SAMPLERS, 'datasets')
TRANSFORMS = _child(mm.TRANSFORMS, 'datasets')
FUNCTIONS = _child(mm.FUNCTIONS, 'datasets')
MODELS = _child(mm.MODELS, 'models')
TASK_UTILS = _child(mm.TASK_UTILS, 'models', 'datasets')  # datasets: the task splits
WEIGHT_INITIALIZERS = _child(mm.WEIGHT_INITIALIZERS, 'models')
METRICS = _child(mm.METRICS, 'evaluation')
EVALUATOR = _child(mm.EVALUATOR, 'evaluation')
VISUALIZERS = _child(mm.VISUALIZERS, 'visualization')
VISBACKENDS = _child(mm.VISBACKENDS, 'visualization')
