"""Pseudo-Gumbel self-training: region captions from an EMA teacher -> referring masks."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.models.base_model import FiniteLossModel
from cissreg.models.losses.dice_loss import DiceLoss  # noqa: F401  (registers DiceLoss)
from cissreg.registry import MODELS, TASK_UTILS

from .ema_teacher import EMATeacher

TRAIN_MODES = ('supervised', 'pseudo_gumbel', 'hard_ids')


@MODELS.register_module()
class PseudoGumbelSegmentor(FiniteLossModel):
    """Region MLLM + grounding encoder + mask decoder, trained in one of three modes.

    * ``'supervised'`` (warm-up): caption cross-entropy of (image1, mask1) -> caption, plus
      the mask loss of image2 segmented from the ground-truth caption ids.
    * ``'pseudo_gumbel'``, the six steps of one iteration:
      1. the EMA teacher generates ``max_caption_len`` tokens for (image1, mask1), no grad;
      2. ``token_masker`` replaces ``mask_ratio`` of the non-pad tokens by random ids;
      3. the student's first forward over prompt + masked tokens + EOS -> logits [B, T, V];
      4. ``gumbel`` (straight-through top-k Gumbel-softmax) -> text embeddings [B, T, D];
      5. the second forward on image2 with those embeddings; ``[SEG]``'s hidden state ->
         ``text_hidden_fcs`` -> mask decoder -> mask logits;
      6. ``loss_mask`` (BCE, weight 2.0) + ``loss_dice`` (weight 0.5) against mask2.
      Gradients reach the first forward's logits, LoRA and projector; never the teacher.
    * ``'hard_ids'`` (the ablation with the Gumbel path cut): steps 1, 5, 6 with the
      teacher's tokens embedded as hard ids; nothing flows into caption logits.

    ``predict`` segments image2 from the ground-truth caption (referring segmentation).

    Args:
        mllm (dict): ``RegionMLLM`` config.
        grounding_encoder (dict): Image -> the features its decoder takes
            (``ConvGroundingEncoder``: [B, C, h, w]; ``Sam2GroundingEncoder``: SAM2's pyramid).
        mask_decoder (dict): Features + prompt -> logits [B, h', w'] (``PromptMaskDecoder``,
            ``Sam2PromptMaskDecoder``); ``prompt_dim`` is filled in.
        prompt_dim (int): Width of the decoder prompt (``text_hidden_fcs`` output).
            Defaults to 64.
        token_masker (dict): Defaults to ``RandomTokenMasker`` with ``mask_ratio=0.25``.
        gumbel (dict): Defaults to ``TopKGumbelSoftmax(tau=0.7, k=128, hard=True)``.
        loss_mask (dict): Defaults to ``BCEWithLogitsLoss`` with ``loss_weight=2.0``.
        loss_dice (dict): Defaults to ``DiceLoss`` with ``loss_weight=0.5``.
        loss_caption_weight (float): Weight of the warm-up caption loss. Defaults to 1.0.
        max_caption_len (int): Teacher caption length ``T``. Defaults to 64.
        train_mode (str): One of ``'supervised'``, ``'pseudo_gumbel'``, ``'hard_ids'``
            (a hook may switch it). Defaults to ``'pseudo_gumbel'``.
        mean (Sequence[float]): Pixel mean (0-255 scale). Defaults to CLIP's.
        std (Sequence[float]): Pixel std (0-255 scale). Defaults to CLIP's.
        data_preprocessor (dict, optional): Defaults to mmengine's ``BaseDataPreprocessor``.
        skip_nonfinite (bool): See ``FiniteLossModel``. Defaults to False.
    """

    def __init__(self,
                 mllm: dict,
                 grounding_encoder: dict,
                 mask_decoder: dict,
                 prompt_dim: int = 64,
                 token_masker: dict = dict(type='RandomTokenMasker', mask_ratio=0.25),
                 gumbel: dict = dict(type='TopKGumbelSoftmax', tau=0.7, k=128, hard=True),
                 loss_mask: dict = dict(type='BCEWithLogitsLoss', loss_weight=2.0),
                 loss_dice: dict = dict(type='DiceLoss', loss_weight=0.5),
                 loss_caption_weight: float = 1.0,
                 max_caption_len: int = 64,
                 train_mode: str = 'pseudo_gumbel',
                 mean: Sequence[float] = (122.77, 116.75, 104.09),
                 std: Sequence[float] = (68.50, 66.63, 70.32),
                 data_preprocessor: Optional[dict] = None,
                 skip_nonfinite: bool = False) -> None:
        super().__init__(skip_nonfinite=skip_nonfinite, data_preprocessor=data_preprocessor)
        self.mllm = MODELS.build(mllm)
        self.grounding_encoder = MODELS.build(grounding_encoder)
        self.mask_decoder = MODELS.build(dict(mask_decoder, prompt_dim=prompt_dim))
        width = self.mllm.hidden_size
        self.text_hidden_fcs = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, prompt_dim))
        self.token_masker = TASK_UTILS.build(token_masker)
        self.gumbel = TASK_UTILS.build(gumbel)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)
        self.loss_caption_weight = loss_caption_weight
        self.max_caption_len = max_caption_len
        self.train_mode = train_mode
        self.register_buffer('pixel_mean', torch.tensor(mean).view(1, 3, 1, 1), False)
        self.register_buffer('pixel_std', torch.tensor(std).view(1, 3, 1, 1), False)
        self.teacher = EMATeacher(self.student)

    @property
    def train_mode(self) -> str:
        """``'supervised'``, ``'pseudo_gumbel'`` or ``'hard_ids'``."""
        return self._train_mode

    @train_mode.setter
    def train_mode(self, mode: str) -> None:
        if mode not in TRAIN_MODES:
            raise ValueError(f'train_mode must be one of {TRAIN_MODES}, got {mode!r}')
        self._train_mode = mode

    @property
    def student(self) -> nn.ModuleDict:
        """The trained parts (what the EMA teacher copies), by name."""
        return nn.ModuleDict(dict(mllm=self.mllm, grounding_encoder=self.grounding_encoder,
                                  mask_decoder=self.mask_decoder,
                                  text_hidden_fcs=self.text_hidden_fcs))

    # ---- building blocks ------------------------------------------------------------------
    def normalize(self, images: Tensor) -> Tensor:
        """[B, 3, H, W] 0-255 images -> normalised float."""
        return (images.float() - self.pixel_mean) / self.pixel_std

    def segment(self, images: Tensor, text_embeds: Tensor, valid: Tensor,
                out_size: Sequence[int]) -> Tensor:
        """Steps 5: second forward with text embeddings -> mask logits [B, H, W]."""
        hidden = self.mllm.seg_hidden(images, text_embeds, valid)
        prompt = self.text_hidden_fcs(hidden)
        logits = self.mask_decoder(self.grounding_encoder(images), prompt.float())
        if tuple(logits.shape[-2:]) != tuple(out_size):
            logits = F.interpolate(logits[:, None], size=tuple(out_size), mode='bilinear',
                                   align_corners=False)[:, 0]
        return logits

    def mask_losses(self, logits: Tensor, gt: Tensor) -> Dict[str, Tensor]:
        """Step 6: ``loss_mask`` (BCE) and ``loss_dice`` of logits [B, H, W] vs gt."""
        gt = gt.to(logits.dtype)
        return dict(loss_mask=self.loss_mask(logits, gt), loss_dice=self.loss_dice(logits, gt))

    def pseudo_captions(self, images: Tensor, region_masks: Tensor) -> Tensor:
        """Step 1: the EMA teacher's greedy captions [B, T], under no_grad."""
        with torch.no_grad():
            return self.teacher.module['mllm'].generate_captions(images, region_masks,
                                                                 self.max_caption_len)

    # ---- mmengine entry points ------------------------------------------------------------
    def forward(self,
                img1: Tensor,
                mask1: Tensor,
                img2: Tensor,
                mask2: Tensor,
                caption_ids: Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor',
                **kwargs):
        """``mode='loss'`` -> dict of losses, ``'predict'`` -> list of dicts, ``'tensor'`` ->
        mask logits of image2 from the caption.

        Args:
            img1 / img2 (Tensor): [B, 3, H, W] uint8 or float 0-255.
            mask1 / mask2 (Tensor): [B, H, W] binary region / target masks.
            caption_ids (Tensor): [B, L] ground-truth caption (words, EOS, padding).
        """
        x1, x2 = self.normalize(img1), self.normalize(img2)
        if mode == 'loss':
            return self.loss(x1, mask1, x2, mask2, caption_ids)
        logits = self.segment(x2, self.mllm.embed_ids(caption_ids),
                              caption_ids != self.mllm.pad_id, mask2.shape[-2:])
        if mode == 'tensor':
            return logits
        if mode == 'predict':
            return self.predict(logits, mask2, data_samples)
        raise ValueError(f'unknown mode {mode!r}')

    def loss(self, x1: Tensor, mask1: Tensor, x2: Tensor, mask2: Tensor,
             caption_ids: Tensor) -> Dict[str, Tensor]:
        """The losses of the current ``train_mode`` (see the class docstring)."""
        pad = self.mllm.pad_id
        if self.train_mode == 'supervised':
            valid = caption_ids != pad
            logits = self.mllm.caption_logits(x1, mask1, caption_ids, valid)
            losses = dict(loss_caption=self.loss_caption_weight * F.cross_entropy(
                logits[valid].float(), caption_ids[valid]))
            text = self.mllm.embed_ids(caption_ids)
        else:
            tokens = self.pseudo_captions(x1, mask1)                        # step 1
            valid = tokens != pad
            losses = {}
            if self.train_mode == 'hard_ids':
                text = self.mllm.embed_ids(tokens)
            else:
                masked = self.token_masker(tokens, self.mllm.vocab_size, pad)  # step 2
                logits = self.mllm.caption_logits(x1, mask1, masked, valid)    # step 3
                text = self.gumbel(logits, self.mllm.embedding_table())        # step 4
        mask_logits = self.segment(x2, text, valid, mask2.shape[-2:])       # step 5
        losses.update(self.mask_losses(mask_logits, mask2))                 # step 6
        return losses

    def predict(self, logits: Tensor, gt_masks: Tensor,
                data_samples: Optional[list] = None) -> List[dict]:
        """Binary masks (sigmoid > 0.5) beside the ground truth, one dict per sample."""
        preds = logits.sigmoid() > 0.5
        if isinstance(data_samples, dict):  # default_collate of per-sample meta dicts
            data_samples = [dict(zip(data_samples, vals)) for vals in zip(*data_samples.values())]
        metas = data_samples or [{}] * len(preds)
        return [dict(pred_mask=p.cpu(), gt_mask=g.bool().cpu(), **dict(m))
                for p, g, m in zip(preds, gt_masks, metas)]
