"""A frozen full copy of a model that follows it by an exponential moving average."""
import copy
from typing import List, Tuple

import torch
from torch import Tensor, nn

__all__ = ['EMATeacher']


def _state_tensors(module: nn.Module) -> List[Tuple[str, Tensor]]:
    """Every parameter and buffer, named, in a fixed order."""
    return ([('param:' + n, p) for n, p in module.named_parameters()]
            + [('buffer:' + n, b) for n, b in module.named_buffers()])


class EMATeacher(nn.Module):
    """Full copy of ``student`` with ``requires_grad=False``, kept in eval mode.

    :meth:`update` sets every floating parameter and buffer (trainable and frozen alike)
    to ``m * teacher + (1 - m) * student`` with a single ``torch._foreach_lerp_`` call over
    all tensors; integer buffers are copied. A hook decides when and with which ``m``.

    Args:
        student (nn.Module): The model to copy (deep-copied now).
    """

    def __init__(self, student: nn.Module) -> None:
        super().__init__()
        self.module = copy.deepcopy(student)
        self.module.requires_grad_(False)
        self.module.eval()
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> 'EMATeacher':
        """The teacher stays in eval mode (no dropout) whatever the parent's mode."""
        super().train(mode)
        self.module.eval()
        return self

    @torch.no_grad()
    def update(self, student: nn.Module, momentum: float) -> None:
        """``teacher = momentum * teacher + (1 - momentum) * student`` for every tensor.

        Args:
            student (nn.Module): Same architecture as the teacher.
            momentum (float): Weight of the teacher's current value, in [0, 1].
        """
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'EMATeacher: momentum must be in [0, 1], got {momentum}')
        teacher_tensors, student_tensors = _state_tensors(self.module), _state_tensors(student)
        if [n for n, _ in teacher_tensors] != [n for n, _ in student_tensors]:
            raise ValueError('EMATeacher.update: the student does not match the teacher copy '
                             '(different parameter / buffer names)')
        floats_t, floats_s = [], []
        for (_, t), (_, s) in zip(teacher_tensors, student_tensors):
            if t.dtype.is_floating_point:
                floats_t.append(t)
                floats_s.append(s.detach().to(t.device, t.dtype))
            else:
                t.copy_(s)
        if floats_t:
            torch._foreach_lerp_(floats_t, floats_s, 1.0 - momentum)
        self.num_updates += 1

    @torch.no_grad()
    def copy_from(self, student: nn.Module) -> None:
        """Set the teacher to the student's current values (an update with momentum 0)."""
        for (_, t), (_, s) in zip(_state_tensors(self.module), _state_tensors(student)):
            t.copy_(s)
