"""Compare a checkpoint's model / EMA / optimizer state with the run before loading it."""
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from torch import nn
from torch.optim import Optimizer


class CheckpointMismatchError(RuntimeError):
    """A checkpoint does not fit the model (keys or shapes differ)."""


@dataclass
class StateDictMismatch:
    """Differences between a model's state dict and a checkpoint's.

    Attributes:
        missing (list[str]): Model keys the checkpoint lacks (``num_batches_tracked`` ignored).
        unexpected (list[str]): Checkpoint keys the model lacks.
        shapes (list[tuple[str, tuple, tuple]]): ``(key, checkpoint shape, model shape)``.
    """

    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    shapes: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)

    def describe(self, limit: int = 20) -> str:
        """Human-readable listing, at most ``limit`` entries per kind."""
        lines = []
        if self.shapes:
            lines.append(f'{len(self.shapes)} tensor(s) with a different shape:')
            lines += [f'  {key}: checkpoint {list(ckpt)} vs model {list(own)}'
                      for key, ckpt, own in self.shapes[:limit]]
        for title, keys in (('missing from the checkpoint', self.missing),
                            ('in the checkpoint but not in the model', self.unexpected)):
            if keys:
                lines.append(f'{len(keys)} key(s) {title}: ' + ', '.join(keys[:limit])
                             + (' ...' if len(keys) > limit else ''))
        return '\n'.join(lines)


def compare_state_dict(model: nn.Module, state_dict: Mapping) -> StateDictMismatch:
    """List what would not load from ``state_dict`` into ``model``.

    Args:
        model (nn.Module): Unwrapped model.
        state_dict (Mapping[str, Tensor]): Checkpoint weights, keys already revised.

    Returns:
        StateDictMismatch: Empty (falsy) when every key and shape matches.
    """
    own = model.state_dict()
    mismatch = StateDictMismatch()
    mismatch.missing = [k for k in own
                        if k not in state_dict and not k.endswith('num_batches_tracked')]
    mismatch.unexpected = [k for k in state_dict if k not in own]
    mismatch.shapes = [(k, tuple(state_dict[k].shape), tuple(v.shape)) for k, v in own.items()
                       if k in state_dict and hasattr(state_dict[k], 'shape')
                       and tuple(state_dict[k].shape) != tuple(v.shape)]
    return mismatch


def ema_weights(ema_state_dict: Mapping) -> dict:
    """The model weights inside an mmengine ``ema_state_dict`` (``module.`` keys, no ``steps``)."""
    return {k[len('module.'):]: v for k, v in ema_state_dict.items() if k.startswith('module.')}


def describe_optimizer_mismatch(saved: Mapping, optimizer: Optimizer) -> Optional[str]:
    """Why ``optimizer.load_state_dict(saved)`` would break, or None when it fits.

    torch loads another optimizer's state without complaint and fails at the first step
    (``KeyError: 'momentum'``, ``KeyError: 'step'``); this compares the parameter-group layout
    and the hyper-parameter names, which differ between optimizer types.

    Args:
        saved (Mapping): An optimizer ``state_dict`` from a checkpoint.
        optimizer (Optimizer): The optimizer it would be loaded into.

    Returns:
        str | None: The differences, one per line.
    """
    own = optimizer.state_dict()
    saved_groups, own_groups = saved.get('param_groups', []), own['param_groups']
    if len(saved_groups) != len(own_groups):
        return (f'{len(saved_groups)} parameter group(s) in the checkpoint, '
                f'{len(own_groups)} in the config\'s optimizer')
    groups_by_problem: Dict[str, List[int]] = {}
    for i, (theirs, ours) in enumerate(zip(saved_groups, own_groups)):
        problems = []
        if len(theirs['params']) != len(ours['params']):
            problems.append(f'{len(theirs["params"])} parameters in the checkpoint, '
                            f'{len(ours["params"])} in the model')
        missing = sorted(set(ours) - set(theirs) - {'params'})
        if missing:
            problems.append(f'the checkpoint lacks the hyper-parameter(s) '
                            f'{", ".join(missing)} that {type(optimizer).__name__} needs')
        for problem in problems:
            groups_by_problem.setdefault(problem, []).append(i)
    # one line per kind of difference, however many groups share it
    return '\n'.join(f'{_groups(indices, len(own_groups))}: {problem}'
                     for problem, indices in groups_by_problem.items()) or None


def _groups(indices: List[int], total: int) -> str:
    """``parameter group 3`` / ``parameter groups 0, 2, 5`` / ``all 183 parameter groups``."""
    if len(indices) == 1:
        return f'parameter group {indices[0]}'
    if len(indices) == total:
        return f'all {total} parameter groups'
    shown = ', '.join(map(str, indices[:5])) + (', ...' if len(indices) > 5 else '')
    return f'{len(indices)} parameter groups ({shown})'
