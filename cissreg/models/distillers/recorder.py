"""Record the outputs of named sub-modules during one forward pass (forward hooks)."""
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

#: Short names of the YOLO detector outputs that distillation usually reads. A value is one
#: record, a list of records (their maps follow each other) or ``dict(concat=[...])``.
RECORD_ALIASES: Dict[str, Union[dict, list]] = dict(
    backbone=dict(module='backbone'),
    neck=dict(module='neck'),
    cls_scores=dict(module='bbox_head.head_module', index=0),
    bbox_dist_preds=dict(module='bbox_head.head_module', index=1),
    # 8 maps: backbone C2 (stride 4), C3, C4, C5 (after SPPF); neck: the top-down P4 (before
    # the bottom-up path), then the outputs P3, P4, P5
    backbone_neck=[dict(module=f'backbone.stage{i}') for i in range(1, 5)]
    + [dict(module='neck.top_down_layers.0'), dict(module='neck')],
    # per level [N, 4 * reg_max + C, H, W]: box-bin logits then class logits (the raw YOLOv8
    # head output ultralytics' Detect returns in training)
    head_response=dict(concat=['bbox_dist_preds', 'cls_scores']),
)


def _resolve_alias(spec: Any) -> Any:
    """The entry an alias of :data:`RECORD_ALIASES` stands for; anything else unchanged."""
    if not isinstance(spec, str):
        return spec
    if spec not in RECORD_ALIASES:
        raise ValueError(f'unknown record {spec!r}: use one of {sorted(RECORD_ALIASES)} or '
                         'dict(module=..., index=...)')
    return RECORD_ALIASES[spec]


@dataclass(frozen=True)
class RecordSpec:
    """Which output of which sub-module to record.

    Attributes:
        module (str): Dotted sub-module path inside the detector, e.g. ``'neck'`` or
            ``'bbox_head.head_module'``.
        index (tuple[int, ...]): Path into the module's (nested tuple / list) output; empty
            for the whole output. ``(0,)`` of ``bbox_head.head_module`` is the list of
            per-level class logits.
    """

    module: str
    index: Tuple[int, ...] = ()

    @classmethod
    def parse(cls, spec: Union[str, dict]) -> 'RecordSpec':
        """Build from an alias of :data:`RECORD_ALIASES` or ``dict(module=..., index=...)``.

        Args:
            spec (str | dict): ``'neck'``, ``'cls_scores'``, ... or ``dict(module='neck',
                index=None)``; ``index`` is None, an int or a sequence of ints.

        Returns:
            RecordSpec: The parsed spec.

        Raises:
            ValueError: Unknown alias or malformed dict.
        """
        spec = _resolve_alias(spec)
        if not isinstance(spec, dict) or not isinstance(spec.get('module'), str) \
                or set(spec) - {'module', 'index'}:
            raise ValueError('a record is an alias or dict(module=str, index=int | list[int] | '
                             f'None), got {spec!r}')
        index = spec.get('index')
        index = () if index is None else (index, ) if isinstance(index, int) else tuple(index)
        return cls(module=spec['module'], index=tuple(int(i) for i in index))

    def select(self, output: Any) -> Any:
        """Pick ``index`` out of a module output."""
        for i in self.index:
            output = output[i]
        return output


@dataclass(frozen=True)
class ConcatSpec:
    """Records whose per-level maps are concatenated along the channels.

    Attributes:
        parts (tuple[RecordSpec, ...]): The records; each gives the same number of levels.
    """

    parts: Tuple[RecordSpec, ...]

    @property
    def modules(self) -> Tuple[str, ...]:
        """The sub-modules the parts read."""
        return tuple(p.module for p in self.parts)


Source = Union[RecordSpec, ConcatSpec]


def parse_records(spec: Any) -> Tuple[Source, ...]:
    """Parse a term's ``student`` / ``teacher`` entry into its sources.

    Args:
        spec (str | dict | list): An alias of :data:`RECORD_ALIASES`, ``dict(module=...,
            index=...)``, ``dict(concat=[<record>, ...])`` (per-level channel concatenation of
            records) or a list of those (their maps follow each other as levels).

    Returns:
        tuple: :class:`RecordSpec` / :class:`ConcatSpec` sources, in level order.

    Raises:
        ValueError: Unknown alias or malformed entry.
    """
    spec = _resolve_alias(spec)
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise ValueError('a list of records must not be empty')
        return tuple(s for item in spec for s in parse_records(item))
    if isinstance(spec, dict) and set(spec) == {'concat'}:
        parts = tuple(s for item in spec['concat'] for s in parse_records(item))
        if len(parts) < 2 or not all(isinstance(p, RecordSpec) for p in parts):
            raise ValueError('dict(concat=[...]) takes two or more plain records, got '
                             f'{spec["concat"]!r}')
        return (ConcatSpec(parts), )
    return (RecordSpec.parse(spec), )


def source_modules(sources: Iterable[Source]) -> List[str]:
    """Every sub-module path that ``sources`` read."""
    paths = []
    for source in sources:
        paths.extend(source.modules if isinstance(source, ConcatSpec) else [source.module])
    return paths


def collect_levels(recorder: 'OutputRecorder', sources: Sequence[Source]) -> List[Tensor]:
    """The per-level maps of ``sources``, in order, from one recorded forward pass.

    Returns:
        list[Tensor]: The maps; a :class:`ConcatSpec` gives ``torch.cat`` of its parts' maps
        of each level along dim 1.
    """
    maps: List[Tensor] = []
    for source in sources:
        if isinstance(source, RecordSpec):
            maps.extend(as_levels(recorder.get(source)))
            continue
        parts = [as_levels(recorder.get(p)) for p in source.parts]
        if len({len(p) for p in parts}) != 1:
            raise ValueError(f'concat: the parts give {[len(p) for p in parts]} levels; they '
                             'must give the same number')
        maps.extend(torch.cat(level, dim=1) for level in zip(*parts))
    return maps


def as_levels(value: Any, levels: Optional[Iterable[int]] = None) -> List[Tensor]:
    """Turn a recorded value into a list of per-level tensors.

    Args:
        value (Tensor | Sequence[Tensor]): One map or one map per level.
        levels (Iterable[int], optional): Levels to keep. Defaults to None (all).

    Returns:
        list[Tensor]: The selected maps.
    """
    maps = [value] if isinstance(value, Tensor) else list(value)
    if not all(isinstance(m, Tensor) for m in maps):
        raise TypeError('a recorded output must be a tensor or a sequence of tensors, got '
                        f'{[type(m).__name__ for m in maps]}')
    if not maps:
        raise ValueError('the recorded output is an empty sequence')
    if levels is None:
        return maps
    levels = list(levels)
    if not levels:
        raise ValueError('levels selects no map')
    bad = [i for i in levels if not -len(maps) <= i < len(maps)]
    if bad:
        raise IndexError(f'levels {bad} out of range for {len(maps)} recorded maps')
    return [maps[i] for i in levels]


class OutputRecorder:
    """Context manager that records the outputs of sub-modules of ``model``.

    Hooks are registered on entry and removed on exit: nothing is recorded outside the
    ``with`` block, and the model carries no hook afterwards (nor into a deep copy)::

        with OutputRecorder(detector, ['neck', 'bbox_head.head_module']) as rec:
            detector(inputs, mode='tensor')
        p3 = rec.get(RecordSpec('neck', (0, )))

    Args:
        model (nn.Module): The model whose sub-modules are hooked.
        module_paths (Iterable[str]): Dotted sub-module paths.
    """

    def __init__(self, model: nn.Module, module_paths: Iterable[str]) -> None:
        self.model = model
        self.module_paths = sorted(set(module_paths))
        for path in self.module_paths:
            find_submodule(model, path)
        self.outputs: Dict[str, Any] = {}
        self._handles: list = []

    def __enter__(self) -> 'OutputRecorder':
        self.outputs = {}
        for path in self.module_paths:
            module = find_submodule(self.model, path)
            self._handles.append(module.register_forward_hook(self._hook(path)))
        return self

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook(self, path: str):

        def record(module: nn.Module, args: tuple, output: Any) -> None:
            if path in self.outputs:
                raise RuntimeError(f'{path!r} ran twice in one forward pass; record a module '
                                   'that runs once')
            self.outputs[path] = output

        return record

    def get(self, spec: RecordSpec) -> Any:
        """The recorded output ``spec`` names.

        Raises:
            KeyError: The module did not run inside the ``with`` block.
        """
        if spec.module not in self.outputs:
            raise KeyError(f'{spec.module!r} of {type(self.model).__name__} did not run in the '
                           'forward pass, so nothing was recorded')
        return spec.select(self.outputs[spec.module])


def find_submodule(model: nn.Module, path: str) -> nn.Module:
    """``model.get_submodule(path)`` with an error that lists the top-level modules."""
    try:
        return model.get_submodule(path)
    except AttributeError as err:
        children = [name for name, _ in model.named_children()]
        raise AttributeError(f'{type(model).__name__} has no sub-module {path!r} to record '
                             f'(top-level modules: {children})') from err
