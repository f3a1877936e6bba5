"""Response-based distillation of dense head outputs (Hinton et al., 2015, per anchor)."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cissreg.registry import MODELS

from .cwd_loss import promote_to_float
from .weighted_loss import WeightedLoss

MODES = ('softmax', 'sigmoid')


def softmax_kl(pred: Tensor, target: Tensor, tau: float = 1.0, dim: int = 1) -> Tensor:
    """``tau^2 * KL(softmax(target / tau) || softmax(pred / tau))`` along ``dim``.

    Args:
        pred (Tensor): Student logits, any shape.
        target (Tensor): Teacher logits, same shape; treated as a constant.
        tau (float): Temperature. Defaults to 1.0.
        dim (int): The distribution's dimension. Defaults to 1.

    Returns:
        Tensor: The input shape without ``dim``.
    """
    s, t = promote_to_float(pred, target.detach())
    log_p_s = F.log_softmax(s / tau, dim=dim)
    log_p_t = F.log_softmax(t / tau, dim=dim)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim) * (tau**2)


def sigmoid_kl(pred: Tensor, target: Tensor, tau: float = 1.0, dim: int = 1) -> Tensor:
    """Per-class binary KL toward the teacher's sigmoid probabilities, summed along ``dim``.

    With ``p = sigmoid(target / tau)`` and ``q = sigmoid(pred / tau)``, each class contributes
    ``tau^2 * (p log(p / q) + (1 - p) log((1 - p) / (1 - q)))``: the binary cross entropy
    ``BCE(q, p)`` minus the teacher's entropy, so the gradient is BCE's and the loss is 0 when
    the student matches the teacher.

    Args:
        pred (Tensor): Student logits, any shape.
        target (Tensor): Teacher logits, same shape; treated as a constant.
        tau (float): Temperature. Defaults to 1.0.
        dim (int): The class dimension, summed over. Defaults to 1.

    Returns:
        Tensor: The input shape without ``dim``.
    """
    s, t = promote_to_float(pred, target.detach())
    s, t = s / tau, t / tau
    p = t.sigmoid()
    loss = (p * (F.logsigmoid(t) - F.logsigmoid(s))
            + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s)))
    return loss.sum(dim) * (tau**2)


@MODELS.register_module()
class KLResponseLoss(WeightedLoss):
    """KL distillation of dense head outputs: class logits or box-side distributions.

    The inputs are one level of raw head outputs, ``[N, C, H, W]`` (or ``[N, C, *]`` with any
    trailing dimensions, including none). One *distribution* is the vector of channels at
    one anchor position; the element-wise loss is one value per distribution,
    ``tau^2 * KL(softmax(teacher / tau) || softmax(student / tau))``, and
    ``reduction='mean'`` averages it over all distributions (anchors, sides and images).
    The teacher output is detached.

    * **Class logits** (``reg_max=None``): the student's channels are first restricted to
      the teacher's classes: teacher class ``j`` is student class ``class_indexes[j]``
      (default ``range(C_teacher)``: the teacher's classes are the student's first ones).
      ``mode='softmax'`` (default, as the reference recipe does) takes the softmax over the
      teacher's classes at each anchor. YOLOv8 scores each class with its own sigmoid, so
      ``mode='sigmoid'`` instead sums, over the teacher's classes, the binary KL between the
      sigmoid probabilities (BCE toward the teacher's probability minus the teacher's
      entropy, see :func:`sigmoid_kl`); it keeps the teacher's "no object here" information
      that the softmax over classes discards.
    * **Box distributions** (``reg_max=16`` for YOLOv8): the ``4 * reg_max`` channels are read
      as four sides (l, t, r, b) of ``reg_max`` bins each; every side of every anchor is a
      distribution (softmax over its bins), so the element-wise loss is ``[N, 4, H, W]``.

    Args:
        tau (float): Temperature. Defaults to 1.0.
        class_indexes (Sequence[int], optional): Student class of each teacher class. Only
            for class logits. Defaults to None (``range(C_teacher)``).
        reg_max (int, optional): Bins per box side; set it to distil box distributions.
            Defaults to None (class logits).
        mode (str): ``'softmax'`` or ``'sigmoid'`` (class logits only). Defaults to
            ``'softmax'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 tau: float = 1.0,
                 class_indexes: Optional[Sequence[int]] = None,
                 reg_max: Optional[int] = None,
                 mode: str = 'softmax',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction=reduction, loss_weight=loss_weight)
        if tau <= 0:
            raise ValueError(f'KLResponseLoss: tau must be > 0, got {tau}')
        if mode not in MODES:
            raise ValueError(f'KLResponseLoss: mode must be one of {MODES}, got {mode!r}')
        if reg_max is not None:
            if class_indexes is not None or mode != 'softmax':
                raise ValueError('KLResponseLoss: reg_max (box distributions) takes neither '
                                 "class_indexes nor mode='sigmoid'")
            if reg_max < 2:
                raise ValueError(f'KLResponseLoss: reg_max must be >= 2, got {reg_max}')
        if class_indexes is not None:
            class_indexes = [int(i) for i in class_indexes]
            if not class_indexes or min(class_indexes) < 0 \
                    or len(set(class_indexes)) != len(class_indexes):
                raise ValueError('KLResponseLoss: class_indexes must be distinct non-negative '
                                 f'student class indexes, got {class_indexes}')
        self.tau = float(tau)
        self.class_indexes = class_indexes
        self.reg_max = reg_max
        self.mode = mode

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """KL per distribution.

        Args:
            pred (Tensor): Student outputs ``[N, C_s, *]``: class logits, or ``[N, 4 *
                reg_max, *]`` box-bin logits.
            target (Tensor): Teacher outputs ``[N, C_t, *]`` (``C_t = len(class_indexes)``
                for class logits, ``C_s`` for box bins).

        Returns:
            Tensor: ``[N, *]`` for class logits, ``[N, 4, *]`` for box bins; ``weight``
            broadcasts to it, ``avg_factor`` replaces the number of distributions.
        """
        if pred.dim() < 2 or pred.dim() != target.dim() or pred.shape[0] != target.shape[0] \
                or pred.shape[2:] != target.shape[2:]:
            raise ValueError('KLResponseLoss expects student [N, C_s, *] and teacher [N, C_t, *] '
                             'outputs with the same batch and spatial sizes, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        if self.reg_max is not None:
            return self._box_loss(pred, target)
        pred = self._select_classes(pred, target.shape[1])
        kl = softmax_kl if self.mode == 'softmax' else sigmoid_kl
        return kl(pred, target, self.tau, dim=1)

    def _box_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Per-side KL of the box-bin logits: ``[N, 4 * reg_max, *]`` -> ``[N, 4, *]``."""
        channels = 4 * self.reg_max
        if pred.shape[1] != channels or target.shape[1] != channels:
            raise ValueError(f'KLResponseLoss(reg_max={self.reg_max}) expects {channels} '
                             f'box-bin channels, got student {pred.shape[1]} and teacher '
                             f'{target.shape[1]}')
        spatial = pred.shape[2:]
        pred = pred.reshape(pred.shape[0], 4, self.reg_max, *spatial)
        target = target.reshape(target.shape[0], 4, self.reg_max, *spatial)
        return softmax_kl(pred, target, self.tau, dim=2)

    def _select_classes(self, pred: Tensor, num_teacher_classes: int) -> Tensor:
        """Student logits of the teacher's classes, in the teacher's order ``[N, C_t, *]``."""
        num_student_classes = pred.shape[1]
        if self.class_indexes is None:
            if num_teacher_classes > num_student_classes:
                raise ValueError(f'KLResponseLoss: the teacher has {num_teacher_classes} '
                                 f'classes but the student only {num_student_classes}; set '
                                 'class_indexes to map teacher classes to student classes')
            return pred[:, :num_teacher_classes]
        if len(self.class_indexes) != num_teacher_classes:
            raise ValueError(f'KLResponseLoss: class_indexes has {len(self.class_indexes)} '
                             f'entries but the teacher outputs {num_teacher_classes} classes')
        if max(self.class_indexes) >= num_student_classes:
            raise ValueError(f'KLResponseLoss: class_indexes {self.class_indexes} name a class '
                             f'>= the student\'s {num_student_classes} classes')
        index = torch.as_tensor(self.class_indexes, device=pred.device)
        return pred.index_select(1, index)


@MODELS.register_module()
class HeadResponseKL(KLResponseLoss):
    """One KL over the whole YOLOv8 head output: box-bin and class distributions together.

    The input of a level is the raw head output as ultralytics' ``Detect`` returns it in
    training, box-bin logits then class logits, ``[N, 4 * reg_max + C, *]`` (the
    ``'head_response'`` record of :class:`~cissreg.models.distillers.DetectionDistiller`).
    The box channels are sliced with ``reg_max`` into four sides of ``reg_max`` bins, each a
    softmax distribution; the class channels (the student's restricted to the teacher's
    classes, as in :class:`KLResponseLoss`) form one more distribution per anchor (softmax over
    the teacher's classes, or per-class sigmoid with ``mode='sigmoid'``). The element-wise
    loss is ``tau^2 * KL(teacher || student)`` of each of these five distributions,
    ``[N, 5, *]``.

    Reduction as channel-wise distillation's: with ``reduction='mean'`` and no
    ``avg_factor``, the sum over distributions, anchors and images is divided by
    ``N * C`` where ``C = 4 * reg_max + C_teacher`` is the channel count of the teacher
    output. Summed over the levels (the distiller sums its terms over levels) that is the KL
    of the head outputs concatenated over levels, normalised once. Note the scale: per
    image it is a *sum over anchors*, ``A / C`` times a mean over anchors (``A`` = 1344 anchors
    at 256 px, 8400 at 640 px), so its weight is not interchangeable with
    :class:`KLResponseLoss`'s.

    Args:
        tau (float): Temperature of every softmax. Defaults to 1.0.
        reg_max (int): Bins per box side. Defaults to 16.
        class_indexes (Sequence[int], optional): Student class of each teacher class.
            Defaults to None (the student's first classes).
        mode (str): Class distribution, ``'softmax'`` or ``'sigmoid'``. Defaults to
            ``'softmax'``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Defaults to ``'mean'``.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 tau: float = 1.0,
                 reg_max: int = 16,
                 class_indexes: Optional[Sequence[int]] = None,
                 mode: str = 'softmax',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(tau=tau, class_indexes=class_indexes, mode=mode, reduction=reduction,
                         loss_weight=loss_weight)
        if reg_max < 2:
            raise ValueError(f'HeadResponseKL: reg_max must be >= 2, got {reg_max}')
        self.box_channels = 4 * int(reg_max)
        self.reg_max_bins = int(reg_max)

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None, reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """See :class:`~cissreg.models.losses.weighted_loss.WeightedLoss`; ``avg_factor``
        defaults to ``N * (4 * reg_max + C_teacher)``."""
        if avg_factor is None:
            avg_factor = target.shape[0] * target.shape[1]
        return super().forward(pred, target, weight, avg_factor, reduction_override, **kwargs)

    def elementwise(self, pred: Tensor, target: Tensor) -> Tensor:
        """KL of the four box sides and the class distribution.

        Args:
            pred (Tensor): Student output ``[N, 4 * reg_max + C_s, *]``.
            target (Tensor): Teacher output ``[N, 4 * reg_max + C_t, *]``.

        Returns:
            Tensor: ``[N, 5, *]`` (sides l, t, r, b, then classes).
        """
        b = self.box_channels
        if pred.dim() < 2 or pred.dim() != target.dim() or pred.shape[0] != target.shape[0] \
                or pred.shape[2:] != target.shape[2:] or min(pred.shape[1], target.shape[1]) <= b:
            raise ValueError('HeadResponseKL expects student [N, 4 * reg_max + C_s, *] and '
                             f'teacher [N, 4 * reg_max + C_t, *] outputs (reg_max '
                             f'{self.reg_max_bins}, so more than {b} channels) with the same '
                             f'batch and spatial sizes, got {tuple(pred.shape)} and '
                             f'{tuple(target.shape)}')
        spatial = pred.shape[2:]
        box_s = pred[:, :b].reshape(pred.shape[0], 4, self.reg_max_bins, *spatial)
        box_t = target[:, :b].reshape(target.shape[0], 4, self.reg_max_bins, *spatial)
        box = softmax_kl(box_s, box_t, self.tau, dim=2)
        cls_t = target[:, b:]
        cls_s = self._select_classes(pred[:, b:], cls_t.shape[1])
        kl = softmax_kl if self.mode == 'softmax' else sigmoid_kl
        cls = kl(cls_s, cls_t, self.tau, dim=1)
        return torch.cat([box, cls.unsqueeze(1).to(box.dtype)], dim=1)
