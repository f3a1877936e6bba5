"""The deployable student inside a distiller's state dict."""
from collections import OrderedDict
from typing import Mapping

STUDENT_PREFIX = 'student.'
DDP_PREFIX = 'module.'


def strip_ddp_prefix(state_dict: Mapping) -> 'OrderedDict':
    """Remove the ``module.`` prefix a DDP-wrapped model's keys carry.

    Args:
        state_dict (Mapping[str, Tensor]): Any state dict.

    Returns:
        OrderedDict: The same tensors, keys without a leading ``module.``.
    """
    return OrderedDict((k[len(DDP_PREFIX):] if k.startswith(DDP_PREFIX) else k, v)
                       for k, v in state_dict.items())


def student_state_dict(state_dict: Mapping) -> 'OrderedDict':
    """The student's weights of a :class:`DetectionDistiller` state dict, unprefixed.

    Keys ``student.*`` lose the prefix; the distillation-only parts (``connectors.*``) are
    dropped. The result loads into the plain student config's model.

    Args:
        state_dict (Mapping[str, Tensor]): Distiller state dict (``module.`` prefixes of a
            DDP wrapper already removed).

    Returns:
        OrderedDict: The student's state dict.

    Raises:
        KeyError: No ``student.`` key (not a distiller state dict).
    """
    student = OrderedDict((k[len(STUDENT_PREFIX):], v) for k, v in state_dict.items()
                          if k.startswith(STUDENT_PREFIX))
    if not student:
        some = list(state_dict)[:5]
        raise KeyError(f'no {STUDENT_PREFIX!r} keys: not a DetectionDistiller state dict '
                       f'(first keys: {some})')
    return student
