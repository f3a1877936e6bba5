"""Compare a checkpoint's state dict with a model before loading it."""
from dataclasses import dataclass, field
from typing import List, Mapping, Tuple

from torch import nn


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
