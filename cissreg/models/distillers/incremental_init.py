"""Start a detector of more classes from a checkpoint trained on a subset of them."""
import re
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from cissreg.registry import WEIGHT_INITIALIZERS
from cissreg.utils.safe_load import safe_torch_load

from .teacher import resolve_checkpoint, teacher_state_dict

#: State-dict keys whose first dimension counts classes (YOLOv8's last class conv per level).
DEFAULT_CLASS_KEYS = r'(^|\.)cls_preds\.\d+\.'


def expand_class_rows(own: Mapping[str, Tensor], loaded: Mapping[str, Tensor],
                      class_indexes: Optional[Sequence[int]] = None,
                      class_keys: str = DEFAULT_CLASS_KEYS,
                      source: str = 'checkpoint') -> Dict[str, Tensor]:
    """A state dict for the model of ``own``: ``loaded`` where shapes agree, class rows copied.

    A tensor of ``own`` whose key matches ``class_keys`` and whose first dimension is larger
    than the loaded one (all other dimensions equal) is a class tensor: row ``j`` of the
    loaded tensor goes to row ``class_indexes[j]``; the other rows keep their value in
    ``own`` (the fresh initialisation of the new classes).

    Args:
        own (Mapping[str, Tensor]): The model's state dict (its fresh weights).
        loaded (Mapping[str, Tensor]): The checkpoint's (model keys, prefixes stripped).
        class_indexes (Sequence[int], optional): Model class of each checkpoint class.
            Defaults to None (``range(C_checkpoint)``: the checkpoint's classes come first).
        class_keys (str): Regular expression (``re.search``) of the class tensors' keys.
            Defaults to :data:`DEFAULT_CLASS_KEYS`.
        source (str): Name of the checkpoint in error messages.

    Returns:
        dict[str, Tensor]: The state dict to load strictly.

    Raises:
        KeyError: A key is missing on either side (``num_batches_tracked`` excepted).
        ValueError: A shape differs outside the class rows, or ``class_indexes`` does not fit.
    """
    missing = [k for k in own if k not in loaded and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in loaded if k not in own]
    if missing or unexpected:
        raise KeyError(f'{source}: does not fit the model: {len(missing)} key(s) missing '
                       f'{missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}')
    pattern = re.compile(class_keys)
    out: Dict[str, Tensor] = {}
    for key, value in own.items():
        if key not in loaded:
            out[key] = value
            continue
        src = loaded[key]
        if src.shape == value.shape:
            out[key] = src.to(value.dtype)
            continue
        if not (pattern.search(key) and src.dim() == value.dim() and src.dim() >= 1
                and src.shape[1:] == value.shape[1:] and src.shape[0] < value.shape[0]):
            raise ValueError(f'{source}: {key} has shape {list(src.shape)}, the model '
                             f'{list(value.shape)}; only class rows (keys matching '
                             f'{class_keys!r}) may grow')
        rows = _rows(class_indexes, src.shape[0], value.shape[0], key, source)
        expanded = value.clone()
        expanded[rows] = src.to(value.dtype)
        out[key] = expanded
    return out


def _rows(class_indexes: Optional[Sequence[int]], num_loaded: int, num_own: int, key: str,
          source: str) -> List[int]:
    if class_indexes is None:
        return list(range(num_loaded))
    rows = [int(i) for i in class_indexes]
    if len(rows) != num_loaded or len(set(rows)) != len(rows) or min(rows) < 0 \
            or max(rows) >= num_own:
        raise ValueError(f'{source}: class_indexes {rows} must name {num_loaded} distinct '
                         f'model classes in 0..{num_own - 1} (key {key})')
    return rows


def fresh_init(module: nn.Module) -> None:
    """Run every child's own ``init_weights`` (the model's fresh initialisation) and mark it
    done, so that mmengine's ``BaseModule.init_weights`` does not run it again."""
    for child in module.children():
        if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
            child.init_weights()
            child._is_init = True


@WEIGHT_INITIALIZERS.register_module(name='IncrementalPretrained')
class IncrementalPretrainedInit:
    """Initialise a detector from a checkpoint of the same network trained on fewer classes.

    Put it in the detector's ``init_cfg``; ``init_weights()`` then (1) runs the detector's own
    fresh initialisation (every child's ``init_weights``, in order, drawing from the RNG as a
    detector without this init_cfg does), (2) loads every tensor of the checkpoint, and for
    the class tensors (``class_keys``) copies the checkpoint's rows to the model rows of its
    classes (``class_indexes``) and keeps the fresh rows of the new classes::

        model = dict(init_cfg=dict(type='IncrementalPretrained',
                                   checkpoint='work_dirs/teacher'))

    Args:
        checkpoint (str): Checkpoint file or work dir (its ``last_checkpoint``); an
            mmengine checkpoint (its ``state_dict``: the EMA weights when an EMA hook
            saved it), a bare state dict, a DDP or a distillation checkpoint (its student).
        class_indexes (Sequence[int], optional): Model class of each checkpoint class.
            Defaults to None (the checkpoint's classes are the model's first ones).
        class_keys (str): Regular expression of the class tensors' keys. Defaults to
            :data:`DEFAULT_CLASS_KEYS`.
    """

    def __init__(self, checkpoint: str, class_indexes: Optional[Sequence[int]] = None,
                 class_keys: str = DEFAULT_CLASS_KEYS) -> None:
        self.checkpoint = checkpoint
        self.class_indexes = None if class_indexes is None else [int(i) for i in class_indexes]
        self.class_keys = class_keys

    def __call__(self, module: nn.Module) -> None:
        """Fresh init of ``module``, then the checkpoint's weights and class rows."""
        path = resolve_checkpoint(self.checkpoint, key='init_cfg.checkpoint')
        state = teacher_state_dict(safe_torch_load(path, map_location='cpu'))
        fresh_init(module)
        with torch.no_grad():
            new_state = expand_class_rows(module.state_dict(), state, self.class_indexes,
                                          self.class_keys, source=f"init_cfg checkpoint '{path}'")
            module.load_state_dict(new_state, strict=True)

    def __repr__(self) -> str:
        return (f'IncrementalPretrained(checkpoint={self.checkpoint!r}, '
                f'class_indexes={self.class_indexes})')
