"""CLIP with class-specific prompts, Gaussian replay, hinge losses and per-task heads."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement
from torch import Tensor, nn

from cissreg.models.base_model import FiniteLossModel
from cissreg.models.clip import build_clip_model, encode_image, encode_text_embeds
from cissreg.models.clip.frozen_weights import exclude_frozen_weights
from cissreg.models.clip.lora import inject_vision_lora, lora_disabled
from cissreg.models.incremental_model import IncrementalModelMixin
from cissreg.registry import MODELS, TASK_UTILS
from cissreg.utils.task_split import incremental_task_sizes

from .clip_hard_pairs import HardPairMixin


@MODELS.register_module()
class CLIPPromptClassifier(HardPairMixin, IncrementalModelMixin, FiniteLossModel):
    """Class-incremental CLIP classifier trained in two stages per task.

    * **Stage 1** (every task): only the prompts train. Logits are CLIP's
      ``exp(logit_scale) * cos(image, prompted text)`` over all seen classes; the loss is
      cross-entropy on real new-class features plus replayed old-class features (attached to
      the batch by ``GaussianReplayHook``) and, from task 1 on, the configured hinge losses
      on hard (old, new) pairs with features drawn from the old classes' Gaussians.
    * **Stage 2** (tasks ``>= second_stage_start_task``): prompts and text encoder frozen;
      task ``t``'s linear head ([D] -> [n_t], initialised from the task's normalised prompted
      text features, bias 0) trains with cross-entropy on
      ``second_stage_logit_scale * head(normalize(image))`` over the current task's classes,
      optionally with LoRA on chosen vision layers.
    * **Inference** (``fusion='within_task'``): CLIP logits pick the task (the one holding
      CLIP's best class), ``CLIP logits + second_stage_fusion_weight * head logits`` rank the
      classes inside it (see :meth:`fused_logits`): a head never moves an image into or out
      of its task, so tasks with and without a head compete on equal terms.
      ``fusion='additive'`` is the reference recipe's plain sum over all seen classes (head
      logits centred per task, a task without a head adds 0), which favours tasks with heads.
    * **Image adapter** (``use_image_adapter=True``, off by default): a bias-free linear map
      [D] -> [D] (identity at start) on the frozen image features of the CLIP logits, real
      and replayed ones alike, trained with the prompts in stage 1 as RAPF's adapter; the
      Gaussian statistics, hard pairs and heads keep the features before it.
      ``image_adapter`` builds another adapter module instead (e.g. ``ResidualMLPAdapter``).
    * **LoRA rule**: the adapted encoder feeds the heads only. Prompts, replay, hinge
      pairs, the Gaussian statistics of every task and the CLIP logits all use the frozen
      encoder's features (LoRA switched off), as the source says ("image-encoder features,
      not through the adapter"), so old and new statistics live in one feature space and
      cached features stay valid for the whole run.

    The prompt pool, heads and Gaussian statistics are allocated for every task up front, so
    a checkpoint of any task loads strictly into a fresh model; ``num_seen_tasks`` and
    ``head_ready`` buffers record what a checkpoint has seen. The incremental loop drives
    :meth:`begin_task` / :meth:`set_stage`.

    Image features of a training batch may be given precomputed (``feats``) instead of
    images: the loop caches them while the image encoder is frozen.

    Args:
        clip (dict): ``dict(config=..., pretrained=None, attn_implementation='sdpa')`` for
            :func:`build_clip_model`.
        num_classes (int): Total classes.
        init_class (int): Classes of task 0.
        increment (int): Classes of each later task.
        tokenizer (dict): ``CLIPTokenizer`` config. Defaults to the byte-level vocabulary.
        prompt_learner (dict): ``PromptLearner`` config (task sizes and width filled in).
        replay_sampler (dict): ``GaussianFeatureSampler`` config (sizes filled in).
        raw_text_template (str): Hand-written prompt of the raw text features used to pick
            text hard pairs. Defaults to ``'a photo of a {}.'``.
        text_hinge_loss (dict, optional): ``HingeLoss`` with ``pair_source='text'``.
        image_hinge_loss (dict, optional): ``HingeLoss`` with ``pair_source='image'``.
        second_stage_start_task (int): First task with a stage-2 head. Defaults to 1.
        second_stage_logit_scale (float, optional): Scale of head logits. Defaults to CLIP's
            ``exp(logit_scale)``.
        second_stage_fusion_weight (float): alpha of the fused score. Defaults to 0.3.
        fusion (str): ``'within_task'`` (CLIP picks the task, the fused score the class in
            it) or ``'additive'`` (the plain sum). Defaults to ``'within_task'``.
        use_image_adapter (bool): Train a linear adapter on the image features of the CLIP
            logits in stage 1. Defaults to False.
        image_adapter (dict, optional): Build this adapter module instead of the linear one
            (``feat_dim`` filled in), e.g. ``dict(type='ResidualMLPAdapter', hidden_dim=128)``;
            only with ``use_image_adapter=True``. Defaults to None (linear).
        lora (dict, optional): ``dict(rank=8, alpha=16, layers=[...], target_modules=('q_proj',
            'v_proj'), dropout=0.0)``: peft LoRA on those vision layers, trained in stage 2.
        save_frozen_clip (bool, optional): Keep the frozen CLIP weights in the state dict.
            Defaults to True only for a randomly initialised CLIP (``pretrained=None``):
            pretrained weights are rebuilt from the config, checked by a checksum.
        data_preprocessor (dict, optional): Defaults to ``CLIPDataPreprocessor``.
        skip_nonfinite (bool): See ``FiniteLossModel``. Defaults to False.
    """

    FUSIONS = ('within_task', 'additive')

    def __init__(self,
                 clip: dict,
                 num_classes: int,
                 init_class: int,
                 increment: int,
                 tokenizer: dict = dict(type='CLIPTokenizer'),
                 prompt_learner: dict = dict(type='PromptLearner', n_ctx=4),
                 replay_sampler: dict = dict(type='GaussianFeatureSampler'),
                 raw_text_template: str = 'a photo of a {}.',
                 text_hinge_loss: Optional[dict] = None,
                 image_hinge_loss: Optional[dict] = None,
                 second_stage_start_task: int = 1,
                 second_stage_logit_scale: Optional[float] = None,
                 second_stage_fusion_weight: float = 0.3,
                 fusion: str = 'within_task',
                 use_image_adapter: bool = False,
                 image_adapter: Optional[dict] = None,
                 lora: Optional[dict] = None,
                 save_frozen_clip: Optional[bool] = None,
                 data_preprocessor: Optional[dict] = None,
                 skip_nonfinite: bool = False) -> None:
        if fusion not in self.FUSIONS:
            raise ValueError(f'CLIPPromptClassifier: fusion must be one of {self.FUSIONS}, got '
                             f'{fusion!r}')
        super().__init__(
            skip_nonfinite=skip_nonfinite,
            data_preprocessor=data_preprocessor or dict(type='CLIPDataPreprocessor'))
        self.clip = build_clip_model(**clip)
        self.clip.requires_grad_(False)
        self.tokenizer = TASK_UTILS.build(tokenizer)
        text_cfg = self.clip.config.text_config
        if self.tokenizer.vocab_size != text_cfg.vocab_size:
            raise ValueError(f'CLIPPromptClassifier: the tokenizer has {self.tokenizer.vocab_size}'
                             f' ids but the CLIP text model {text_cfg.vocab_size}; use the '
                             'vocab file the weights were trained with')
        self.task_sizes = incremental_task_sizes(num_classes, init_class, increment)
        self.task_starts = [sum(self.task_sizes[:t]) for t in range(len(self.task_sizes))]
        self.num_classes = num_classes
        feat_dim = self.clip.config.projection_dim
        self.prompt_learner = MODELS.build(
            dict(prompt_learner, task_sizes=self.task_sizes, ctx_dim=text_cfg.hidden_size,
                 context_length=min(self.tokenizer.context_length,
                                    text_cfg.max_position_embeddings)))
        self.replay_sampler = MODELS.build(
            dict(replay_sampler, num_classes=num_classes, feat_dim=feat_dim))
        self.text_hinge_loss = self._build_hinge(text_hinge_loss, 'text')
        self.image_hinge_loss = self._build_hinge(image_hinge_loss, 'image')
        self.raw_text_template = raw_text_template
        self.heads = nn.ModuleList(nn.Linear(feat_dim, n) for n in self.task_sizes)
        self.heads.requires_grad_(False)
        self.second_stage_start_task = second_stage_start_task
        self.second_stage_logit_scale = second_stage_logit_scale
        self.second_stage_fusion_weight = second_stage_fusion_weight
        self.fusion = fusion
        if image_adapter is not None and not use_image_adapter:
            raise ValueError('CLIPPromptClassifier: image_adapter is set but use_image_adapter '
                             'is False')
        self.image_adapter: Optional[nn.Module] = None
        if image_adapter is not None:
            self.image_adapter = MODELS.build(dict(image_adapter, feat_dim=feat_dim))
        elif use_image_adapter:
            self.image_adapter = nn.Linear(feat_dim, feat_dim, bias=False)
            with torch.no_grad():
                self.image_adapter.weight.copy_(torch.eye(feat_dim))
        if self.image_adapter is not None:
            self.image_adapter.requires_grad_(False)
        self.lora_parameters: List[nn.Parameter] = inject_vision_lora(self.clip, lora)
        self.register_buffer('num_seen_tasks', torch.zeros((), dtype=torch.long))
        self.register_buffer('head_ready', torch.zeros(len(self.task_sizes), dtype=torch.bool))
        if not (save_frozen_clip if save_frozen_clip is not None else
                clip.get('pretrained') is None):  # rebuilt from the config's weights on load
            exclude_frozen_weights(self, 'clip.', keep=('lora_', ))
        self.class_names: List[str] = []
        self.current_task: Optional[int] = None
        self.stage = 1
        self._text_cache: Dict[int, Tensor] = {}
        self._hard_pairs: Dict[str, Tensor] = {}
        self._new_class_means: Optional[Tensor] = None

    # ------------------------------------------------------------------ construction
    def init_weights(self) -> None:
        """Nothing to do: CLIP is loaded and prompts / heads initialised at construction.

        (mmengine would otherwise call transformers' ``init_weights`` on the CLIP model,
        which re-initialises pretrained weights.)
        """
        self._is_init = True

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._clear_caches()
        super()._load_from_state_dict(*args, **kwargs)

    def train(self, mode: bool = True) -> 'CLIPPromptClassifier':
        # features of prompts that train may have been cached in eval mode: they go stale
        for g in self.prompt_learner.trainable_groups():
            self._text_cache.pop(g, None)
        return super().train(mode)

    def _clear_caches(self) -> None:
        self._text_cache.clear()
        self._hard_pairs.clear()

    # ------------------------------------------------------------------ task control
    @property
    def num_tasks(self) -> int:
        return len(self.task_sizes)

    @property
    def seen_tasks(self) -> int:
        """Tasks seen so far (the current one included)."""
        if self.current_task is not None:
            return self.current_task + 1
        return int(self.num_seen_tasks)

    def class_range(self, task_id: int) -> Tuple[int, int]:
        start = self.task_starts[task_id]
        return start, start + self.task_sizes[task_id]

    def begin_task(self, task_id: int, task_info: dict) -> None:
        """Enter task ``task_id``: name its prompts and reset per-task state.

        Args:
            task_id (int): Task index.
            task_info (dict): From the task split; ``class_names`` lists all classes in
                incremental label order.
        """
        class_names = task_info['class_names']
        if len(class_names) != self.num_classes:
            raise ValueError(f'begin_task: {len(class_names)} class names for a model of '
                             f'{self.num_classes} classes')
        self.class_names = list(class_names)
        start, end = self.class_range(task_id)
        self.prompt_learner.set_class_names(task_id, self.class_names[start:end],
                                            self.tokenizer,
                                            self.clip.text_model.embeddings.token_embedding)
        self.current_task = task_id
        self.num_seen_tasks.fill_(max(int(self.num_seen_tasks), task_id + 1))
        self._new_class_means = None
        self._clear_caches()

    def set_stage(self, stage: int) -> None:
        """Select what trains: prompts (stage 1) or the current head (+ LoRA) (stage 2)."""
        if stage not in (1, 2):
            raise ValueError(f'stage must be 1 or 2, got {stage}')
        task = self.current_task
        if task is None:
            raise RuntimeError('set_stage before begin_task')
        self.stage = stage
        self.prompt_learner.set_trainable(task, stage)
        self.heads.requires_grad_(False)
        if self.image_adapter is not None:
            self.image_adapter.requires_grad_(stage == 1)
        for p in self.lora_parameters:
            p.requires_grad_(stage == 2)
        self._clear_caches()
        if stage == 2:
            if not self.has_second_stage(task):
                raise RuntimeError(f'task {task} has no second stage (second_stage_start_task='
                                   f'{self.second_stage_start_task})')
            if not bool(self.head_ready[task]):
                self.init_head(task)
            self.heads[task].requires_grad_(True)

    def has_second_stage(self, task_id: int) -> bool:
        return task_id >= self.second_stage_start_task

    def runs_stage(self, task_id: int, stage: int) -> bool:
        """Stage 1 runs for every task, stage 2 from ``second_stage_start_task`` on."""
        return stage == 1 or self.has_second_stage(task_id)

    @torch.no_grad()
    def init_head(self, task_id: int) -> None:
        """Head weights = the task's normalised prompted text features, bias = 0."""
        text = self._group_text_features(task_id, grad=False)
        self.heads[task_id].weight.copy_(text)
        self.heads[task_id].bias.zero_()
        self.head_ready[task_id] = True

    @property
    def needs_images(self) -> bool:
        """Whether the current stage trains on images, not cached features (LoRA in stage 2)."""
        return self.stage == 2 and bool(self.lora_parameters)

    # ------------------------------------------------------------------ features
    def extract_feat(self, inputs: Tensor) -> Tensor:
        """Projected image features [B, D] of the frozen encoder (LoRA off) for normalised
        images [B, 3, H, W]: what prompts, replay, statistics and hard pairs use."""
        with torch.no_grad(), lora_disabled(self.clip, self.lora_parameters):
            return encode_image(self.clip, inputs)

    def head_feat(self, inputs: Tensor) -> Tensor:
        """Image features [B, D] of the heads: through the LoRA-adapted encoder."""
        with torch.set_grad_enabled(self.training and self.needs_images):
            return encode_image(self.clip, inputs)

    def _group_text_features(self, task_id: int, grad: bool) -> Tensor:
        embeds, eot = self.prompt_learner(task_id,
                                          self.clip.text_model.embeddings.token_embedding)
        with torch.set_grad_enabled(grad):
            return F.normalize(encode_text_embeds(self.clip, embeds, eot), dim=-1)

    def text_features(self, num_tasks: Optional[int] = None) -> Tensor:
        """Normalised prompted text features of the classes of the first ``num_tasks`` tasks.

        Groups whose prompts do not train are computed once and cached until the stage,
        task or weights change; in eval mode every group is cached, and a switch back to
        training drops the groups that train.

        Returns:
            Tensor: [n_seen, D].
        """
        num_tasks = self.seen_tasks if num_tasks is None else num_tasks
        feats = []
        for g in range(num_tasks):
            trainable = self.training and self.prompt_learner.pool[g].ctx.requires_grad
            if trainable:
                feats.append(self._group_text_features(g, grad=True))
                continue
            if g not in self._text_cache:
                self._text_cache[g] = self._group_text_features(g, grad=False)
            feats.append(self._text_cache[g])
        return torch.cat(feats)

    def adapt(self, feats: Tensor) -> Tensor:
        """Frozen-encoder features [B, D] through the image adapter (identity without one)."""
        if self.image_adapter is None:
            return feats
        dtype = next(self.image_adapter.parameters()).dtype
        return self.image_adapter(feats.to(dtype))

    def clip_logits(self, feats: Tensor, text: Tensor) -> Tensor:
        """``exp(logit_scale) * cos(adapt(feats), text)``: [B, n_classes]."""
        return self.clip.logit_scale.exp() * F.normalize(self.adapt(feats), dim=-1) @ text.t()

    def head_logits(self, feats: Tensor, task_id: int) -> Tensor:
        """Scaled logits [B, n_t] of task ``task_id``'s head on normalised features, centred
        over the task's classes.

        Cross-entropy over a task's own classes cannot move the mean of its head's rows (the
        softmax ignores a shift shared by all of them), and that mean starts at the task's
        mean text feature: uncentred, every trained head would add
        ``scale * cos(image, mean text of the task)`` to all its classes, a per-task offset
        that pulls images towards whichever task's text is closest. Centring removes it and
        leaves the training loss unchanged.
        """
        scale = self.second_stage_logit_scale
        if scale is None:
            scale = self.clip.logit_scale.exp()
        logits = scale * self.heads[task_id](F.normalize(feats, dim=-1))
        return logits - logits.mean(dim=1, keepdim=True)

    def fused_logits(self, feats: Tensor, head_feats: Optional[Tensor] = None) -> Tensor:
        """Scores of the seen classes: [B, n_seen].

        ``f = CLIP logits + alpha * head logits`` (a task without a head adds 0). With
        ``fusion='within_task'`` each task's scores are shifted so that their maximum is
        CLIP's maximum over that task's classes:
        ``score_c = f_c - max_{k in t} f_k + max_{k in t} clip_k`` for ``c`` in task ``t``.
        The argmax then falls in the task holding CLIP's best class, whatever the heads say,
        and on the class the fused score ranks first inside it. A head (trained on its own
        task only, so confident on every image) can therefore not pull images into its task,
        and a task without a head is not disadvantaged.

        Args:
            feats (Tensor): [B, D] frozen-encoder features (CLIP logits).
            head_feats (Tensor, optional): [B, D] LoRA-adapted features for the heads.
                Defaults to ``feats``.
        """
        seen = self.seen_tasks
        logits = self.clip_logits(feats, self.text_features(seen))
        head_feats = feats if head_feats is None else head_feats
        parts = []
        for t in range(seen):
            if bool(self.head_ready[t]):
                parts.append(self.head_logits(head_feats, t))
            else:
                parts.append(feats.new_zeros(feats.shape[0], self.task_sizes[t]))
        fused = logits + self.second_stage_fusion_weight * torch.cat(parts, dim=1)
        if self.fusion == 'additive':
            return fused
        out = []
        for t in range(seen):
            start, end = self.class_range(t)
            f, c = fused[:, start:end], logits[:, start:end]
            out.append(f - f.max(1, keepdim=True).values + c.max(1, keepdim=True).values)
        return torch.cat(out, dim=1)

    # ------------------------------------------------------------------ forward
    def forward(self,
                inputs: Optional[Tensor] = None,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor',
                feats: Optional[Tensor] = None,
                labels: Optional[Tensor] = None,
                replay_feats: Optional[Tensor] = None,
                replay_labels: Optional[Tensor] = None,
                img_paths: Optional[List[str]] = None):
        """mmengine entry point.

        Args:
            inputs (Tensor, optional): [B, 3, H, W] normalised images.
            data_samples (list, optional): Samples with ``gt_label``.
            mode (str): ``'loss'``, ``'predict'`` or ``'tensor'``.
            feats (Tensor, optional): [B, D] precomputed image features (instead of inputs).
            labels (Tensor, optional): [B] int64 labels.
            replay_feats (Tensor, optional): [R, D] replayed old-class features (stage 1).
            replay_labels (Tensor, optional): [R] their labels.
            img_paths (list[str], optional): [B] image files of a ``feats`` batch, named by
                ``FiniteLossModel``'s non-finite loss check (not used here).

        Returns:
            dict of losses (``'loss'``), data samples with ``pred_score`` [n_seen] and
            ``pred_label`` (``'predict'``), or fused scores [B, n_seen] (``'tensor'``).
        """
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f'Invalid mode {mode!r}')
        head_feats = None
        if feats is None:
            if inputs is None:
                raise ValueError('CLIPPromptClassifier needs inputs (images) or feats')
            if self.lora_parameters:
                head_feats = self.head_feat(inputs)
            if not (mode == 'loss' and self.stage == 2):
                feats = self.extract_feat(inputs)
        elif self.lora_parameters and (mode != 'loss' or self.stage == 2):
            raise ValueError('with LoRA the heads need images (the adapted encoder), not '
                             'precomputed features')
        if mode == 'loss':
            return self.loss(feats, labels, replay_feats, replay_labels, head_feats)
        if mode == 'predict':
            return self.predict(feats, data_samples, head_feats)
        return self.fused_logits(feats, head_feats)

    def loss(self, feats: Optional[Tensor], labels: Tensor,
             replay_feats: Optional[Tensor] = None, replay_labels: Optional[Tensor] = None,
             head_feats: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Stage-1 or stage-2 losses (see the class docstring); ``head_feats`` [B, D] are
        the LoRA-adapted features (default ``feats``)."""
        task = self.current_task
        if task is None:
            raise RuntimeError('CLIPPromptClassifier: begin_task must be called before training')
        if self.stage == 2:
            start, end = self.class_range(task)
            if bool(((labels < start) | (labels >= end)).any()):
                raise ValueError(f'stage 2 of task {task} got labels outside [{start}, {end})')
            logits = self.head_logits(feats if head_feats is None else head_feats, task)
            return dict(loss_head_ce=F.cross_entropy(logits, labels - start))
        if replay_feats is not None and len(replay_feats):
            feats = torch.cat([feats, replay_feats.to(feats.dtype)])
            labels = torch.cat([labels, replay_labels.to(labels.device)])
        text = self.text_features(task + 1)
        losses = dict(loss_ce=F.cross_entropy(self.clip_logits(feats, text), labels))
        if task > 0:
            if self.text_hinge_loss is not None:
                losses['loss_text_hinge'] = self._hinge('text', text)
            if self.image_hinge_loss is not None:
                losses['loss_image_hinge'] = self._hinge('image', text)
        return losses

    def predict(self, feats: Tensor, data_samples: Optional[List[BaseDataElement]] = None,
                head_feats: Optional[Tensor] = None) -> List[BaseDataElement]:
        """Fused scores of the seen classes into ``pred_score`` / ``pred_label``."""
        scores = self.fused_logits(feats, head_feats)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(scores.shape[0])]
        for sample, score in zip(data_samples, scores):
            sample.pred_score = score.detach()
            sample.pred_label = score.argmax().view(1)
        return data_samples
