"""SAM2 as the grounding encoder + mask decoder pair, wired as Sa2VA wires it.

Both halves are parts of transformers' ``Sam2Model`` (built from a config dict, or read from a
local folder written by ``Sam2Model.save_pretrained``, e.g. a downloaded
``facebook/sam2.1-hiera-large``; nothing downloads):

* :class:`Sam2GroundingEncoder`: Hiera + FPN neck (``vision_encoder``) and the "no memory"
  embedding added to the lowest-resolution map, as SAM2 does for an image without memory.
  Returns the feature pyramid, high resolution first.
* :class:`Sam2PromptMaskDecoder`: the prompt encoder, the two-way transformer mask decoder
  and its high-resolution skip convs. The ``[SEG]`` prompt (``text_hidden_fcs`` output, width
  = SAM2's 256) is one more sparse token after the empty point prompt, as Sa2VA's
  ``language_embd``; one mask per prompt (``multimask_output=False``).

Sa2VA freezes the image encoder and trains the decoder; ``frozen`` says the same here.
"""
import os.path as osp
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.registry import MODELS
from cissreg.utils.optional_import import import_optional

NO_OBJECT_SCORE = -1024.0  # SAM2's NO_OBJ_SCORE


def build_sam2(config: Optional[dict] = None, pretrained: Optional[str] = None) -> nn.Module:
    """transformers ``Sam2Model`` from a config dict (``Sam2Config`` keys) or a local folder.

    With neither, the default ``Sam2Config`` (hiera-tiny sized, random weights).

    Raises:
        FileNotFoundError: ``pretrained`` is not a local folder.
        ValueError: both ``config`` and ``pretrained`` are given.
    """
    transformers = import_optional('transformers', 'mllm', 'SAM2 grounding models')
    Sam2Config, Sam2Model = transformers.Sam2Config, transformers.Sam2Model
    if pretrained is not None:
        if config:
            raise ValueError('SAM2: give `config` or `pretrained`, not both (pretrained='
                             f'{pretrained!r}: set config=None, the folder has its config.json)')
        if not osp.isdir(pretrained):
            raise FileNotFoundError(
                f'SAM2: pretrained={pretrained!r} is not a local folder; expected a '
                'transformers Sam2Model folder (config.json + model.safetensors), e.g. '
                'facebook/sam2.1-hiera-large downloaded beforehand')
        return Sam2Model.from_pretrained(pretrained, local_files_only=True)
    return Sam2Model(Sam2Config(**(config or {})))


@MODELS.register_module()
class Sam2GroundingEncoder(nn.Module):
    """SAM2's image encoder: [B, 3, H, W] -> feature pyramid, high resolution first.

    The input arrives normalised with the segmentor's ``input_mean`` / ``input_std`` (CLIP's by
    default); it is resized to SAM2's ``image_size`` and re-normalised with SAM2's ImageNet
    statistics, as Sa2VA feeds SAM2 its own 1024 px copy of the image.

    Args:
        config (dict, optional): ``Sam2Config`` keys (``vision_config`` ...).
        pretrained (str, optional): Local ``Sam2Model`` folder.
        frozen (bool): No gradients into the encoder (Sa2VA). Defaults to True.
        input_mean (Sequence[float]): Normalisation of the input, 0-255 scale. Defaults to CLIP's.
        input_std (Sequence[float]): Defaults to CLIP's.
        mean (Sequence[float]): SAM2's normalisation, 0-255 scale. Defaults to ImageNet's.
        std (Sequence[float]): Defaults to ImageNet's.
    """

    def __init__(self,
                 config: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 frozen: bool = True,
                 input_mean: Sequence[float] = (122.77, 116.75, 104.09),
                 input_std: Sequence[float] = (68.50, 66.63, 70.32),
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375)) -> None:
        super().__init__()
        sam2 = build_sam2(config, pretrained)
        self.vision_encoder = sam2.vision_encoder
        self.no_memory_embedding = sam2.no_memory_embedding
        self.image_size = sam2.config.prompt_encoder_config.image_size
        # x_sam = x_in * scale + shift maps the input normalisation onto SAM2's
        in_mean, in_std = torch.tensor(input_mean), torch.tensor(input_std)
        scale = in_std / torch.tensor(std)
        self.register_buffer('scale', scale.view(1, 3, 1, 1), False)
        self.register_buffer('shift', ((in_mean - torch.tensor(mean)) / torch.tensor(std))
                             .view(1, 3, 1, 1), False)
        if frozen:
            self.requires_grad_(False)

    def forward(self, images: Tensor) -> List[Tensor]:
        """Encode.

        Args:
            images (Tensor): [B, 3, H, W], normalised with ``input_mean`` / ``input_std``.

        Returns:
            list[Tensor]: [B, C, h_i, w_i] per level (``backbone_feature_sizes``, e.g. 256,
            128, 64 at 1024 px), the last with the no-memory embedding added.
        """
        x = images * self.scale + self.shift
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode='bilinear',
                              align_corners=False)
        feats = list(self.vision_encoder(x, return_dict=True).fpn_hidden_states)
        feats[-1] = feats[-1] + self.no_memory_embedding[0, 0, :, None, None]
        return feats


@MODELS.register_module()
class Sam2PromptMaskDecoder(nn.Module):
    """SAM2's prompt encoder + mask decoder with the ``[SEG]`` embedding as a sparse prompt.

    Args:
        prompt_dim (int): Width of the ``[SEG]`` prompt; must equal SAM2's hidden size (256).
        config (dict, optional): ``Sam2Config`` keys; the same as the encoder's.
        pretrained (str, optional): Local ``Sam2Model`` folder.
        frozen (bool): Freeze the decoder too. Defaults to False (Sa2VA trains it).
        mask_absent_objects (bool): As SAM2's ``_forward_sam_heads`` (and so Sa2VA), set the
            whole mask to -1024 where the object-score logit is <= 0. Defaults to False: a
            decoder trained from scratch starts with random object scores.
    """

    def __init__(self,
                 prompt_dim: int,
                 config: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 frozen: bool = False,
                 mask_absent_objects: bool = False) -> None:
        super().__init__()
        sam2 = build_sam2(config, pretrained)
        self.shared_image_embedding = sam2.shared_image_embedding
        self.prompt_encoder = sam2.prompt_encoder
        self.mask_decoder = sam2.mask_decoder
        if prompt_dim != self.prompt_encoder.hidden_size:
            raise ValueError(f'Sam2PromptMaskDecoder: prompt_dim={prompt_dim} must equal the '
                             f'SAM2 hidden size {self.prompt_encoder.hidden_size} (set the '
                             "segmentor's prompt_dim)")
        self.mask_absent_objects = mask_absent_objects
        if frozen:
            self.requires_grad_(False)

    def image_positional_embeddings(self, batch_size: int) -> Tensor:
        """SAM2's dense positional encoding of the embedding grid: [B, C, h, w]."""
        h, w = self.prompt_encoder.image_embedding_size
        weight = self.shared_image_embedding.positional_embedding
        grid = torch.ones((h, w), device=weight.device, dtype=weight.dtype)
        y = (grid.cumsum(0) - 0.5) / h
        x = (grid.cumsum(1) - 0.5) / w
        pe = self.shared_image_embedding(torch.stack([x, y], dim=-1)).permute(2, 0, 1)
        return pe[None].expand(batch_size, -1, -1, -1)

    def forward(self, image_feats: List[Tensor], prompt: Tensor) -> Tensor:
        """Decode one mask per image.

        Args:
            image_feats (list[Tensor]): :class:`Sam2GroundingEncoder` output.
            prompt (Tensor): [B, P] ``[SEG]`` embeddings.

        Returns:
            Tensor: Mask logits [B, 4h, 4w] (256 x 256 at 1024 px).
        """
        *high_res, embeddings = image_feats
        batch = embeddings.shape[0]
        high_res = [self.mask_decoder.conv_s0(high_res[0]), self.mask_decoder.conv_s1(high_res[1])]
        points = embeddings.new_zeros(batch, 1, 1, 2)   # no point: label -1 (+ SAM2's pad point)
        labels = -torch.ones(batch, 1, 1, dtype=torch.int32, device=embeddings.device)
        sparse, dense = self.prompt_encoder(points, labels, None, None)
        sparse = torch.cat([sparse, prompt[:, None, None, :].to(sparse.dtype)], dim=2)
        masks, _, _, object_scores = self.mask_decoder(
            image_embeddings=embeddings,
            image_positional_embeddings=self.image_positional_embeddings(batch),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
            multimask_output=False, high_resolution_features=high_res)
        masks = masks[:, 0, 0]
        if self.mask_absent_objects:
            masks = torch.where(object_scores.view(batch, 1, 1) > 0, masks,
                                masks.new_tensor(NO_OBJECT_SCORE))
        return masks
