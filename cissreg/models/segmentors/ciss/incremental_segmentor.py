"""DKD's class-incremental DeepLabV3: a per-step classifier list that grows, an old model."""
import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from cissreg.models.base_model import FiniteLossModel
from cissreg.models.incremental_model import IncrementalModelMixin
from cissreg.registry import MODELS

from .prediction import sigmoid_argmax_prediction

_BN = (nn.BatchNorm2d, nn.SyncBatchNorm)


@MODELS.register_module()
class IncrementalSegmentor(IncrementalModelMixin, FiniteLossModel):
    """Backbone + ASPP head + one 1x1 classifier per step (DKD, NeurIPS 2022).

    ``classifiers[0]`` is DKD's 1-channel auxiliary classifier, fed *detached* features;
    ``classifiers[s]`` (``s >= 1``) has one channel per class of step ``s - 1``, so the
    concatenated channel index is the class label (there is no background channel). Logits
    are upsampled bilinearly to the input size; prediction is
    :func:`sigmoid_argmax_prediction`.

    Incremental protocol (``IncrementalLoop``): ``begin_task(t, info)`` grows the classifier
    list to step ``t`` (new rows copy the auxiliary classifier's weight and bias when
    ``init_from_aux``), snapshots the model as the frozen old model (eval, no grad, not a
    submodule: it is neither in the optimizer nor in ``state_dict``; ``load_old_state``
    rebuilds it when resuming), and in steps > 0 with ``freeze_bn`` puts every BN layer and
    dropout in eval mode and BN affine parameters out of training.

    Losses (each ``None`` to disable it): ``loss_mbce`` on the current step's logits
    (``pos_weight`` ``base_pos_weight`` in step 0 when given), ``loss_ac`` on the auxiliary
    logit, and in steps > 0 ``loss_kd`` (old classes, full resolution) and ``loss_dkd``
    (decomposed, feature resolution) against the old model, and ``loss_align``
    (``PseudoGradAlignLoss``, off by default) on background pixels the old model calls
    foreground, with the gradient learner that ``GradLearnerHook`` hands over as
    ``grad_predictor``.

    Args:
        backbone (dict): Backbone config (``TorchvisionResNet``).
        decode_head (dict): Head config (``ASPPHead``).
        task_sizes (Sequence[int]): Classes per step, e.g. ``[15, 1, 1, 1, 1, 1]``.
        loss_mbce, loss_ac, loss_kd, loss_dkd, loss_align (dict, optional): Loss configs.
        base_pos_weight (float, optional): ``pos_weight`` of MBCE in step 0.
        init_from_aux (bool): New rows copy the auxiliary classifier. Defaults to True.
        freeze_bn (bool): Freeze BN (and dropout) in steps > 0. Defaults to True.
        skip_nonfinite (bool): See ``FiniteLossModel``. Defaults to False.
        data_preprocessor (dict, optional): Defaults to ``SegDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 task_sizes: Sequence[int],
                 loss_mbce: Optional[dict] = dict(type='MultiLabelBCELoss', pos_weight=1.0),
                 loss_ac: Optional[dict] = dict(type='AuxBackgroundLoss', loss_weight=1.0),
                 loss_kd: Optional[dict] = dict(type='LogitKDLoss', loss_weight=5.0),
                 loss_dkd: Optional[dict] = dict(type='DecomposedKDLoss', pos_weight=5.0,
                                                 neg_weight=5.0),
                 loss_align: Optional[dict] = None,
                 base_pos_weight: Optional[float] = None,
                 init_from_aux: bool = True,
                 freeze_bn: bool = True,
                 skip_nonfinite: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        preprocessor = MODELS.build(data_preprocessor or dict(type='SegDataPreprocessor'))
        super().__init__(skip_nonfinite=skip_nonfinite, data_preprocessor=preprocessor,
                         init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        self.task_sizes = [int(s) for s in task_sizes]
        channels = self.decode_head.channels
        self.classifiers = nn.ModuleList([nn.Conv2d(channels, 1, 1),
                                          nn.Conv2d(channels, self.task_sizes[0], 1)])
        for conv in self.classifiers:
            nn.init.kaiming_normal_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.losses = nn.ModuleDict({
            name: MODELS.build(cfg) for name, cfg in (
                ('mbce', loss_mbce), ('ac', loss_ac), ('kd', loss_kd), ('dkd', loss_dkd),
                ('align', loss_align))
            if cfg is not None})
        self.base_pos_weight = base_pos_weight
        self.init_from_aux = init_from_aux
        self.freeze_bn = freeze_bn
        self.step = 0
        self.__dict__['old_model'] = None  # not a submodule: no optimizer, no state_dict
        self.__dict__['grad_predictor'] = None  # set by GradLearnerHook, not a submodule
        self.cache_train_outputs = False
        self.train_cache: Dict[str, Tensor] = {}

    # ------------------------------------------------------------------ classes
    @property
    def num_seen(self) -> int:
        """Foreground classes seen up to the current step."""
        return sum(self.task_sizes[:self.step + 1])

    @property
    def num_old(self) -> int:
        """Foreground classes of the steps before the current one."""
        return sum(self.task_sizes[:self.step])

    def _add_step_classifier(self) -> None:
        size = self.task_sizes[len(self.classifiers) - 1]
        aux = self.classifiers[0]
        conv = nn.Conv2d(aux.in_channels, size, 1).to(aux.weight.device)
        with torch.no_grad():
            if self.init_from_aux:
                conv.weight.copy_(aux.weight.expand_as(conv.weight))
                conv.bias.copy_(aux.bias.expand_as(conv.bias))
            else:
                nn.init.kaiming_normal_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.classifiers.append(conv)

    def begin_task(self, task_id: int, task_info: Optional[dict] = None) -> None:
        """Grow to step ``task_id``, snapshot the old model and freeze BN (steps > 0)."""
        if task_id >= len(self.task_sizes):
            raise ValueError(f'IncrementalSegmentor: step {task_id} but task_sizes has '
                             f'{len(self.task_sizes)} steps')
        while len(self.classifiers) - 1 < task_id + 1:
            if len(self.classifiers) - 1 == task_id:
                self.__dict__['old_model'] = self._snapshot()
            self._add_step_classifier()
        self.step = task_id
        if task_id > 0 and self.freeze_bn:
            for m in self.modules():
                if isinstance(m, _BN):
                    for p in m.parameters():
                        p.requires_grad_(False)
        self.train(self.training)

    def _snapshot(self) -> 'IncrementalSegmentor':
        old = self.__dict__.pop('old_model', None)
        predictor = self.__dict__.pop('grad_predictor', None)
        cache = self.train_cache
        self.train_cache = {}
        snap = copy.deepcopy(self)
        self.__dict__['old_model'], self.train_cache = old, cache
        self.__dict__['grad_predictor'] = predictor
        snap.__dict__['old_model'] = snap.__dict__['grad_predictor'] = None
        snap.eval()
        for p in snap.parameters():
            p.requires_grad_(False)
        return snap

    def load_old_state(self, state_dict: Dict[str, Tensor]) -> None:
        """Set the old model to the weights of the previous step (a ``task_{t-1}`` state
        dict), e.g. when resuming in the middle of step ``t``."""
        old = self.old_model
        if old is None:
            raise RuntimeError('load_old_state: the model is in step 0 (no old model)')
        own = old.state_dict()
        old.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=True)

    def train(self, mode: bool = True) -> 'IncrementalSegmentor':
        """As ``nn.Module.train``, keeping BN and dropout in eval in frozen steps."""
        super().train(mode)
        if mode and self.step > 0 and self.freeze_bn:
            for m in self.modules():
                if isinstance(m, _BN + (nn.Dropout, )):
                    m.eval()
        return self

    # ------------------------------------------------------------------ forward
    def extract_feat(self, inputs: Tensor) -> Tensor:
        """``[N, 3, H, W]`` -> head features ``[N, D, h, w]``."""
        return self.decode_head(self.backbone(inputs))

    def classify(self, feat: Tensor) -> Tensor:
        """Feature-resolution logits ``[N, 1 + C_seen, h, w]`` (aux on detached features)."""
        outs = [self.classifiers[0](feat.detach())]
        outs += [conv(feat) for conv in self.classifiers[1:]]
        return torch.cat(outs, dim=1)

    def seg_logits(self, inputs: Tensor) -> tuple:
        """Features ``[N, D, h, w]`` and logits upsampled to the input, ``[N, 1 + C, H, W]``."""
        feat = self.extract_feat(inputs)
        logits = F.interpolate(self.classify(feat), size=inputs.shape[-2:], mode='bilinear',
                               align_corners=False)
        return feat, logits

    def old_class_weight(self) -> Tensor:
        """``[C_old, D]``: weights of the old classes' rows (classifiers 1..step)."""
        return torch.cat([c.weight.flatten(1) for c in self.classifiers[1:self.step + 1]])

    def forward(self, inputs: Tensor, data_samples: Optional[List] = None,
                mode: str = 'tensor', labels: Optional[Tensor] = None,
                trusted: Optional[Tensor] = None) -> Union[Dict[str, Tensor], List, Tensor]:
        if mode == 'loss':
            return self.loss(inputs, labels, trusted)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        return self.seg_logits(inputs)[1]

    def loss(self, inputs: Tensor, labels: Tensor,
             trusted: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """DKD's losses for the current step.

        Args:
            inputs (Tensor): ``[N, 3, H, W]``.
            labels (Tensor): ``[N, H, W]`` labels of the current step's classes (others 0).
            trusted (Tensor, optional): ``[N, H, W]`` labels for the gradient learner
                (memory exemplars keep their old classes); cached with the logits and
                the inputs when ``cache_train_outputs``.

        Returns:
            dict[str, Tensor]: ``loss_mbce``, ``loss_ac``, and in steps > 0 ``loss_kd``,
            ``loss_dkd`` and ``loss_align`` (those configured).
        """
        feat, logits = self.seg_logits(inputs)
        losses = {}
        if 'mbce' in self.losses:
            pos_weight = self.base_pos_weight if self.step == 0 else None
            losses['loss_mbce'] = self.losses['mbce'](
                logits[:, 1 + self.num_old:], labels, first_class=self.num_old + 1,
                pos_weight=pos_weight)
        if 'ac' in self.losses:
            losses['loss_ac'] = self.losses['ac'](logits[:, :1], None)
        if self.step > 0 and any(k in self.losses for k in ('kd', 'dkd', 'align')):
            with torch.no_grad():
                old_feat, old_logits = self.old_model.seg_logits(inputs)
            if 'kd' in self.losses:
                losses['loss_kd'] = self.losses['kd'](logits[:, 1:1 + self.num_old],
                                                      old_logits[:, 1:])
            if 'dkd' in self.losses:
                losses['loss_dkd'] = self.losses['dkd'](
                    feat, old_feat, cls_weight=self.old_class_weight(),
                    old_cls_weight=self.old_model.old_class_weight_all())
            if 'align' in self.losses:
                losses['loss_align'] = self._align_loss(
                    logits[:, 1:], old_logits[:, 1:], labels,
                    labels if trusted is None else trusted)
        if self.cache_train_outputs:
            self.train_cache = dict(logits=logits.detach(),
                                    trusted=labels if trusted is None else trusted,
                                    inputs=inputs.detach())
        return losses

    def _align_loss(self, fg_logits: Tensor, old_fg_logits: Tensor, labels: Tensor,
                    trusted: Tensor) -> Tensor:
        """``PseudoGradAlignLoss`` on ``[N, C, H, W]`` foreground logits (0 without pixels)."""
        align = self.losses['align']
        idx, g_tilde = align.pseudo_gradient(fg_logits, old_fg_logits, labels, trusted,
                                             self.num_old, self.grad_predictor)
        if idx.numel() == 0:
            return fg_logits.sum() * 0.0
        flat = fg_logits.permute(0, 2, 3, 1).reshape(-1, fg_logits.shape[1])
        return align(flat[idx], g_tilde)

    def old_class_weight_all(self) -> Tensor:
        """``[C_seen, D]``: weights of all foreground rows (used on the old model)."""
        return torch.cat([c.weight.flatten(1) for c in self.classifiers[1:]])

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: Optional[List] = None) -> List:
        """Predicted label maps, ``pred_sem_seg`` ``[H, W]`` in each data sample."""
        pred = sigmoid_argmax_prediction(self.seg_logits(inputs)[1])
        data_samples = data_samples or [BaseDataElement() for _ in range(len(pred))]
        for sample, p in zip(data_samples, pred):
            h, w = sample.get('gt_seg', p).shape[-2:]
            sample.pred_sem_seg = p[:h, :w]
        return data_samples
