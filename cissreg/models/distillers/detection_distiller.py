"""Teacher-student distillation for detectors: a frozen teacher guides a trainable student."""
import copy
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample

from ..base_model import FiniteLossModel
from ..losses.global_batch_scale import global_batch_scale
from .incremental_init import IncrementalPretrainedInit
from .recorder import (OutputRecorder, Source, as_levels, collect_levels, parse_records,
                       source_modules)
from .teacher import build_teacher

#: Default terms: CWD on the neck levels, KL on class logits and box distributions, with the
#: reference recipe's weights (w_cwd, w_resp) = (0.05, 0.001).
DEFAULT_DISTILL_LOSSES = dict(
    loss_cwd=dict(
        student='neck', loss=dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=0.05)),
    loss_kl_cls=dict(
        student='cls_scores', loss=dict(type='KLResponseLoss', tau=1.0, loss_weight=0.001)),
    loss_kl_box=dict(
        student='bbox_dist_preds',
        loss=dict(type='KLResponseLoss', tau=1.0, reg_max=16, loss_weight=0.001)),
)
_TERM_KEYS = {'loss', 'student', 'teacher', 'levels', 'connector'}
LOSS_SCALES = ('global_batch', 'batch_mean')
INCREMENTAL_INIT_TYPES = ('IncrementalPretrained', 'cissreg.IncrementalPretrained',
                          IncrementalPretrainedInit)


@dataclass(frozen=True)
class DistillTerm:
    """One distillation loss: which recorded maps it compares, per level.

    Attributes:
        name (str): Loss name in the log (contains ``'loss'``).
        student (tuple[RecordSpec | ConcatSpec, ...]): Recorded student outputs, in level
            order.
        teacher (tuple[RecordSpec | ConcatSpec, ...]): Recorded teacher outputs.
        levels (tuple[int, ...] | None): Levels used; None for all.
    """

    name: str
    student: Tuple[Source, ...]
    teacher: Tuple[Source, ...]
    levels: Optional[Tuple[int, ...]]


@MODELS.register_module()
class DetectionDistiller(FiniteLossModel):
    """Distil a frozen teacher detector into a student detector.

    The student is built from a detector config (e.g. ``YOLODetector``), the teacher from its
    own config file and checkpoint. The teacher is frozen: every parameter has
    ``requires_grad=False``, it always runs in eval mode (BN statistics never change) and
    under ``torch.no_grad()``. It is deliberately *not* a registered sub-module: it is
    absent from ``parameters()`` (so from the optimizer and DDP), ``state_dict()`` (so from
    checkpoints) and ``init_weights()`` (which would overwrite the loaded weights); device
    moves (``.to()``, ``.cuda()``) still carry it along.

    A training step runs the student's own ``loss`` and one teacher forward
    (``mode='tensor'``) on the same preprocessed batch, recording the outputs that the
    distillation terms name (forward hooks, see :class:`OutputRecorder`)::

        loss = gt_loss_weight * (student detection losses)
             + scale * sum over terms of (sum over levels of term.loss(student_map,
                                                                       teacher_map))

    Every student loss term and every distillation term is logged under its own name
    (``loss_cls``, ``loss_bbox``, ``loss_dfl``, ``loss_cwd``, ``loss_kl_cls``, ...). Each
    term's weight is its loss's ``loss_weight``.

    **One scale for all terms.** The distillation losses are batch means (CWD over images
    and channels, KL over anchors). ``YOLOv8Head`` multiplies its detection losses by the
    images of the global batch (``num_imgs * world_size``, ultralytics' convention, see
    :mod:`~cissreg.models.losses.global_batch_scale`), so with ``loss_scale='global_batch'``
    (default) the distillation terms get the same factor: the ratio of distillation to
    detection gradient is then the same at every batch size and GPU count, and equals the
    reference recipe's, whose detection loss is the per-batch normalised sum *without* a
    batch factor next to batch-mean CWD / KL terms: the reference weights (1.0, 0.05, 0.001)
    mean here what they meant there. ``loss_scale='batch_mean'`` leaves the terms as batch
    means, for a student whose detection losses are batch means too (mmdet heads).

    Prediction, ``mode='tensor'`` and the data preprocessor are the student's, so
    ``tools/test.py`` evaluates the student. The state dict holds ``student.*`` and
    ``connectors.*``; :func:`~cissreg.models.distillers.student_state_dict` (and
    ``tools/model_converters/export_student.py``) extracts a plain student checkpoint.

    **Paired runs.** Everything built after the student (teacher, losses, connectors) draws
    from a forked RNG, so at one seed the student starts from the weights of the same student
    trained without distillation. A student ``init_cfg=dict(type='IncrementalPretrained',
    checkpoint=None)`` starts from ``teacher_ckpt`` (see
    :class:`~cissreg.models.distillers.IncrementalPretrainedInit`).

    Args:
        student (dict): Config of the student detector.
        teacher_config (str): Plain path of the teacher's config file (not mmengine's
            ``pkg::`` form); configs can use ``'{{fileDirname}}/teacher.py'``.
        teacher_ckpt (str): Teacher checkpoint file, or the teacher's work dir (its
            ``last_checkpoint`` is used). A checkpoint of another class count or architecture
            raises :class:`~cissreg.utils.CheckpointMismatchError` naming the keys.
        distill_losses (dict, optional): ``name -> term``; a term is ``dict(loss=<loss
            config>, student=<record>, teacher=<record, default: same as student>,
            levels=<level indexes, default all>, connector=<None | connector config>)``. A
            record is an alias of :data:`~cissreg.models.distillers.RECORD_ALIASES`
            (``'neck'``, ``'backbone_neck'`` (8 maps), ``'cls_scores'``, ``'head_response'``
            ...), ``dict(module='dotted.path', index=int | list)``, ``dict(concat=[...])`` or
            a list of records (see :func:`~cissreg.models.distillers.parse_records`).
            With ``connector=dict(type='ConvConnector')`` one connector per level maps the
            student map to the teacher's channels (``in_channels`` / ``out_channels`` are
            read from the recorded maps unless given). Defaults to
            :data:`DEFAULT_DISTILL_LOSSES` (CWD 0.05 on the neck, KL 0.001 on class logits
            and box distributions).
        gt_loss_weight (float): Multiplier of the student's detection losses. Defaults to 1.0.
        teacher_cfg_options (dict, optional): Overrides merged into the teacher config.
            Defaults to None.
        probe_size (int, optional): Side of the blank image run through both models at
            build time to size connectors and check every term. Defaults to twice the
            student preprocessor's ``pad_size_divisor`` (64 for YOLO).
        loss_scale (str): ``'global_batch'`` (multiply the distillation terms by
            ``num_imgs * world_size``, the student detection losses' scale) or
            ``'batch_mean'`` (leave them as batch means). Defaults to ``'global_batch'``.
        skip_nonfinite (bool): Skip a step with a NaN / inf loss term instead of raising.
            Defaults to False.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 student: dict,
                 teacher_config: str,
                 teacher_ckpt: str,
                 distill_losses: Optional[Dict[str, dict]] = None,
                 gt_loss_weight: float = 1.0,
                 teacher_cfg_options: Optional[dict] = None,
                 probe_size: Optional[int] = None,
                 loss_scale: str = 'global_batch',
                 skip_nonfinite: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if loss_scale not in LOSS_SCALES:
            raise ValueError(f'DetectionDistiller: loss_scale must be one of {LOSS_SCALES}, '
                             f'got {loss_scale!r}')
        init = student.get('init_cfg')
        if isinstance(init, dict) and init.get('type') in INCREMENTAL_INIT_TYPES \
                and init.get('checkpoint') is None:
            student = dict(student, init_cfg=dict(init, checkpoint=teacher_ckpt))
        student_model = MODELS.build(student)
        super().__init__(skip_nonfinite=skip_nonfinite,
                         data_preprocessor=student_model.data_preprocessor, init_cfg=init_cfg)
        self.student = student_model
        self.gt_loss_weight = float(gt_loss_weight)
        self.loss_scale = loss_scale
        # Everything after the student draws from a forked RNG: the global RNG leaves this
        # constructor as it left the student's, so at one seed the student's initial weights
        # (drawn by init_weights() later) and everything drawn after them are those of the
        # same student trained without distillation (paired runs).
        with torch.random.fork_rng(devices=[]):
            # a plain attribute, not a sub-module: see the class docstring
            object.__setattr__(self, '_teacher', build_teacher(teacher_config, teacher_ckpt,
                                                               teacher_cfg_options))
            term_cfgs = copy.deepcopy(DEFAULT_DISTILL_LOSSES if distill_losses is None
                                      else dict(distill_losses))
            self.terms: List[DistillTerm] = []
            self.distill_losses = nn.ModuleDict()
            connector_cfgs = {}
            for name, term_cfg in term_cfgs.items():
                term, loss_cfg, connector_cfg = self._parse_term(name, term_cfg)
                self.terms.append(term)
                self.distill_losses[name] = MODELS.build(loss_cfg)
                if connector_cfg is not None:
                    connector_cfgs[name] = connector_cfg
            self.connectors = nn.ModuleDict()
            self._probe(connector_cfgs, probe_size)

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher detector."""
        return self._teacher

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _parse_term(name: str, cfg: dict) -> Tuple[DistillTerm, dict, Optional[dict]]:
        """Validate one ``distill_losses`` entry; returns the term, loss and connector cfgs."""
        where = f'DetectionDistiller: distill_losses[{name!r}]'
        if 'loss' not in name:
            raise ValueError(f"{where}: the name must contain 'loss' (mmengine sums the "
                             "logged terms whose name contains 'loss')")
        if not isinstance(cfg, dict) or 'loss' not in cfg or 'student' not in cfg:
            raise ValueError(f'{where} must be dict(loss=..., student=..., [teacher=..., '
                             f'levels=..., connector=...]), got {cfg!r}')
        unknown = set(cfg) - _TERM_KEYS
        if unknown:
            raise ValueError(f'{where}: unknown keys {sorted(unknown)}; a term accepts '
                             f'{sorted(_TERM_KEYS)}')
        try:
            student = parse_records(cfg['student'])
            teacher = parse_records(cfg.get('teacher') or cfg['student'])
        except ValueError as err:
            raise ValueError(f'{where}: {err}') from err
        levels = cfg.get('levels')
        levels = None if levels is None else tuple(int(i) for i in levels)
        return DistillTerm(name, student, teacher, levels), cfg['loss'], cfg.get('connector')

    def _probe(self, connector_cfgs: Dict[str, dict], probe_size: Optional[int]) -> None:
        """Run a blank image through both models: build connectors and check every term."""
        if probe_size is None:
            probe_size = 2 * int(getattr(self.data_preprocessor, 'pad_size_divisor', 32))
        was_training = self.student.training
        self.student.eval()
        inputs = torch.zeros(1, 3, probe_size, probe_size)
        try:
            with torch.no_grad():
                student_maps, teacher_maps = self._record(inputs, run_student=self.student)
                for term in self.terms:
                    pairs = list(zip(student_maps[term.name], teacher_maps[term.name]))
                    if term.name in connector_cfgs:
                        self.connectors[term.name] = self._build_connectors(
                            connector_cfgs[term.name], pairs)
                    self._term_loss(term, student_maps[term.name], teacher_maps[term.name])
        finally:
            self.student.train(was_training)

    @staticmethod
    def _build_connectors(cfg: dict, pairs: List[Tuple[Tensor, Tensor]]) -> nn.ModuleList:
        """One connector per level, channels read from the probe maps unless configured."""
        connectors = nn.ModuleList()
        for level, (s, t) in enumerate(pairs):
            level_cfg = dict(cfg)
            for key, value in (('in_channels', s.shape[1]), ('out_channels', t.shape[1])):
                given = level_cfg.get(key)
                if isinstance(given, (list, tuple)):
                    given = given[level]
                level_cfg[key] = value if given is None else given
            connectors.append(MODELS.build(level_cfg))
        return connectors

    # ------------------------------------------------------------------ forward
    def forward(self, inputs: Tensor, data_samples: Optional[List[DetDataSample]] = None,
                mode: str = 'tensor'):
        """``'loss'``: detection + distillation losses; ``'predict'`` / ``'tensor'``: the
        student's.

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` batch from the data preprocessor.
            data_samples (list[DetDataSample], optional): With ``gt_instances`` for
                ``'loss'``; the metas for ``'predict'``.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
        """
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('predict', 'tensor'):
            return self.student(inputs, data_samples, mode=mode)
        raise ValueError(f"DetectionDistiller: mode must be 'loss', 'predict' or 'tensor', "
                         f'got {mode!r}')

    def loss(self, inputs: Tensor, data_samples: Sequence[DetDataSample]) -> Dict[str, Tensor]:
        """Student detection losses (times ``gt_loss_weight``) and one entry per term
        (times ``num_imgs * world_size`` with ``loss_scale='global_batch'``).

        Args:
            inputs (Tensor): ``[B, 3, H, W]`` batch.
            data_samples (Sequence[DetDataSample]): With ``gt_instances``.

        Returns:
            dict[str, Tensor]: The student's loss terms and the distillation terms.
        """
        student_maps, teacher_maps, det_losses = self._record(
            inputs, run_student=lambda x: self.student.loss(x, data_samples), with_output=True)
        losses = {k: self._scale(v) if 'loss' in k else v for k, v in det_losses.items()}
        scale = global_batch_scale(inputs.shape[0]) if self.loss_scale == 'global_batch' else 1
        for term in self.terms:
            if term.name in losses:
                raise ValueError(f'DetectionDistiller: distillation term {term.name!r} has the '
                                 'name of a student loss; rename it')
            losses[term.name] = scale * self._term_loss(term, student_maps[term.name],
                                                        teacher_maps[term.name])
        return losses

    def _scale(self, value: Union[Tensor, List[Tensor]]) -> Union[Tensor, List[Tensor]]:
        if self.gt_loss_weight == 1.0:
            return value
        if isinstance(value, Tensor):
            return value * self.gt_loss_weight
        return [v * self.gt_loss_weight for v in value]

    def _record(self, inputs: Tensor, run_student, with_output: bool = False):
        """Run the student (``run_student(inputs)``) and the teacher, recording the terms'
        maps.

        Returns:
            tuple: ``student_maps`` and ``teacher_maps`` (term name -> list of per-level
            tensors), plus the student's output when ``with_output``.
        """
        student_rec = OutputRecorder(self.student,
                                     [m for t in self.terms for m in source_modules(t.student)])
        with student_rec:
            output = run_student(inputs)
        teacher_rec = OutputRecorder(self._teacher,
                                     [m for t in self.terms for m in source_modules(t.teacher)])
        if self.terms:  # without terms the teacher has nothing to contribute
            with torch.no_grad(), teacher_rec:
                self._teacher(inputs, mode='tensor')
        student_maps, teacher_maps = {}, {}
        for term in self.terms:
            try:
                student_maps[term.name] = as_levels(collect_levels(student_rec, term.student),
                                                    term.levels)
                teacher_maps[term.name] = as_levels(collect_levels(teacher_rec, term.teacher),
                                                    term.levels)
            except (KeyError, IndexError, TypeError, ValueError) as err:
                raise type(err)(f'DetectionDistiller: distill_losses[{term.name!r}]: '
                                f'{err}') from err
            if len(student_maps[term.name]) != len(teacher_maps[term.name]):
                raise ValueError(
                    f'DetectionDistiller: distill_losses[{term.name!r}]: the student records '
                    f'{len(student_maps[term.name])} maps but the teacher '
                    f'{len(teacher_maps[term.name])}; set `levels`')
        if with_output:
            return student_maps, teacher_maps, output
        return student_maps, teacher_maps

    def _term_loss(self, term: DistillTerm, student_maps: List[Tensor],
                   teacher_maps: List[Tensor]) -> Tensor:
        """Sum over levels of the term's loss (after the level's connector, if any)."""
        loss_fn = self.distill_losses[term.name]
        connectors = self.connectors[term.name] if term.name in self.connectors else None
        total = 0.
        for level, (s, t) in enumerate(zip(student_maps, teacher_maps)):
            if connectors is not None:
                s = connectors[level](s)
            try:
                total = total + loss_fn(s, t)
            except ValueError as err:
                raise ValueError(f'DetectionDistiller: distill_losses[{term.name!r}] at level '
                                 f'{level} (student {tuple(s.shape)}, teacher '
                                 f'{tuple(t.shape)}): {err}') from err
        return total

    # ------------------------------------------------------------------ module plumbing
    def train(self, mode: bool = True) -> 'DetectionDistiller':
        """Set the student's (and connectors') mode; the teacher stays in eval mode."""
        super().train(mode)
        self._teacher.eval()
        return self

    def _apply(self, fn, recurse: bool = True):
        """Device / dtype moves (``.to()``, ``.cuda()``...) apply to the teacher too."""
        super()._apply(fn, recurse)
        self._teacher._apply(fn)
        return self
