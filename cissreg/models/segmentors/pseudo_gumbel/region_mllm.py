"""A region-prompted multimodal LM: vision encoder + projector + causal LM (+ LoRA)."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cissreg.registry import MODELS
from cissreg.utils.optional_import import import_optional
from cissreg.utils.word_tokenizer import MLLM_SPECIAL_TOKENS, load_or_build_word_tokenizer

DEFAULT_SEGMENT_TEMPLATE = 'please segment {text} [SEG]'
# the reference recipe's segmentation turn (its chat roles as plain tokens)
REFERENCE_SEGMENT_TEMPLATE = 'Please segment: {text} [SEG]<|end|> <|assistant|> It is [SEG].'

# vision tower type -> its transformers model and config class names
VISION_ENCODERS = {
    'CLIPVisionModel': ('CLIPVisionModel', 'CLIPVisionConfig'),
    'SiglipVisionModel': ('SiglipVisionModel', 'SiglipVisionConfig'),
}


def _transformers():
    return import_optional('transformers', 'mllm', 'region MLLMs')


def build_vision_encoder(type: str, config: Optional[dict] = None,
                         pretrained: Optional[str] = None) -> nn.Module:
    """A transformers vision tower from a config dict, or from a local folder."""
    if type not in VISION_ENCODERS:
        raise ValueError(f'vision_encoder.type must be one of {sorted(VISION_ENCODERS)}, '
                         f'got {type!r}')
    model_cls, config_cls = (getattr(_transformers(), name) for name in VISION_ENCODERS[type])
    if pretrained is not None:
        return model_cls.from_pretrained(pretrained, local_files_only=True)
    return model_cls(config_cls(**(config or {})))


def build_causal_lm(vocab_size: int, config: Optional[dict] = None,
                    pretrained: Optional[str] = None) -> nn.Module:
    """``AutoModelForCausalLM`` from a config dict (``model_type`` + sizes) or a local folder.

    A config without ``vocab_size`` gets ``vocab_size`` (the tokenizer's length); one with a
    larger ``vocab_size`` (a padded LM head, e.g. Qwen2's) keeps it. The input embeddings
    are resized to ``vocab_size`` when they are smaller.
    """
    transformers = _transformers()
    if pretrained is not None:
        lm = transformers.AutoModelForCausalLM.from_pretrained(pretrained, local_files_only=True)
    else:
        config = dict(config or {})
        config['vocab_size'] = max(config.get('vocab_size', 0), vocab_size)
        lm = transformers.AutoModelForCausalLM.from_config(
            transformers.AutoConfig.for_model(**config))
    if lm.get_input_embeddings().num_embeddings < vocab_size:
        lm.resize_token_embeddings(vocab_size)
    return lm


@MODELS.register_module()
class RegionMLLM(nn.Module):
    """Osprey / Sa2VA-style region MLLM built from config-selected transformers parts.

    The image's patch features, projected to the LM width, replace ``<IMG_CONTEXT>``
    placeholders. A region prompt is the region mask resized to the patch grid (nearest; a
    region that covers no cell center keeps its largest-overlap cell): its K covered cells
    give K region tokens, the patch features at those cells, between ``<vp>`` and ``</vp>``.

    Caption prompt (left-padded to the batch's longest K)::

        <s> <img> <IMG_CONTEXT>*N </img> <vp> <IMG_CONTEXT>*K </vp> {caption_instruction}

    Segmentation prompt (``text`` is given as embeddings, e.g. Gumbel-softmax rows), with
    ``segment_template`` after the image block::

        <s> <img> <IMG_CONTEXT>*N </img> {segment_template with {text} filled in}

    With ``segment_image_tokens=False`` the image block is left out (``<s>`` then the
    template): ``[SEG]`` then depends on the text alone and the mask decoder does all the
    grounding on its own image features.

    The default template ``'please segment {text} [SEG]'`` ends on one ``[SEG]`` right after
    the text. :data:`REFERENCE_SEGMENT_TEMPLATE` is the reference recipe's chat turn, ``Please
    segment: {text} [SEG]<|end|> <|assistant|> It is [SEG].``, with two ``[SEG]`` tokens. The
    mask prompt is the last-layer hidden state at the template's last ``[SEG]`` (the
    assistant's answer in the chat form).

    Args:
        vision_encoder (dict): ``dict(type='CLIPVisionModel' | 'SiglipVisionModel',
            config=dict(...), pretrained=None)``.
        language_model (dict): ``dict(config=dict(model_type='llama', ...),
            pretrained=None, attn_implementation='sdpa')``; ``vocab_size`` is set from the
            tokenizer.
        tokenizer (dict): ``dict(path=..., words=None)`` for
            :func:`load_or_build_word_tokenizer` (a real LM's tokenizer folder works; the
            MLLM tokens are added when missing).
        lora (dict, optional): peft ``LoraConfig`` kwargs (``r``, ``lora_alpha``,
            ``target_modules``, ``lora_dropout``, ``modules_to_save``,
            ``trainable_token_indices``); None trains the LM fully.
        train_added_tokens (bool): With ``lora``, make the embedding rows of the MLLM tokens
            this class adds to the tokenizer (``[SEG]``, ``<vp>`` ...: new rows, randomly
            initialised) trainable through peft's ``trainable_token_indices``, added to any
            the ``lora`` dict lists; LoRA alone would keep them frozen at random values.
            Defaults to True.
        projector_hidden (int, optional): Hidden width of the two-layer MLP projector.
            Defaults to the LM width.
        freeze_vision_encoder (bool): Defaults to True.
        caption_instruction (str): Defaults to ``'describe this region'``.
        segment_image_tokens (bool): Put the image block in the segmentation prompt, as the
            reference recipe does. Defaults to True.
        segment_template (str): Segmentation prompt after the image block, with one
            ``{text}`` followed by at least one ``[SEG]``. Defaults to
            :data:`DEFAULT_SEGMENT_TEMPLATE`.
    """

    def __init__(self,
                 vision_encoder: dict,
                 language_model: dict,
                 tokenizer: dict,
                 lora: Optional[dict] = None,
                 train_added_tokens: bool = True,
                 projector_hidden: Optional[int] = None,
                 freeze_vision_encoder: bool = True,
                 caption_instruction: str = 'describe this region',
                 segment_image_tokens: bool = True,
                 segment_template: Optional[str] = None) -> None:
        super().__init__()
        tok = load_or_build_word_tokenizer(**tokenizer)
        missing = [t for t in MLLM_SPECIAL_TOKENS if t not in tok.get_vocab()]
        if missing:
            tok.add_special_tokens({'additional_special_tokens': missing})
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self.tokenizer = tok
        self.vision_encoder = build_vision_encoder(**vision_encoder)
        language_model = dict(language_model)
        attn = language_model.pop('attn_implementation', None)
        lm = build_causal_lm(len(tok), **language_model)
        if attn is not None:
            lm.set_attn_implementation(attn)
        self.added_token_ids = tok.convert_tokens_to_ids(missing)
        if lora is not None:
            peft = import_optional('peft', 'mllm', 'LoRA in region MLLMs')
            lora = dict(lora)
            if train_added_tokens and self.added_token_ids:
                rows = list(lora.get('trainable_token_indices') or [])
                lora['trainable_token_indices'] = sorted(set(rows) | set(self.added_token_ids))
            lm = peft.get_peft_model(lm, peft.LoraConfig(task_type='CAUSAL_LM', **lora))
        self.lm = lm
        if freeze_vision_encoder:
            self.vision_encoder.requires_grad_(False)
        self.freeze_vision_encoder = freeze_vision_encoder
        vcfg = self.vision_encoder.config
        self.grid = vcfg.image_size // vcfg.patch_size
        self.image_size = vcfg.image_size
        width = lm.get_input_embeddings().weight.shape[1]
        hidden = projector_hidden or width
        self.projector = nn.Sequential(
            nn.LayerNorm(vcfg.hidden_size), nn.Linear(vcfg.hidden_size, hidden), nn.GELU(),
            nn.Linear(hidden, width))
        ids = tok.convert_tokens_to_ids
        self.pad_id, self.bos_id, self.eos_id = tok.pad_token_id, tok.bos_token_id, tok.eos_token_id
        self.ctx_id, self.seg_id = ids('<IMG_CONTEXT>'), ids('[SEG]')
        self.img_ids = (ids('<img>'), ids('</img>'))
        self.vp_ids = (ids('<vp>'), ids('</vp>'))
        self.caption_instruction = tok.encode(caption_instruction, add_special_tokens=False)
        self.segment_image_tokens = segment_image_tokens
        self.segment_template = segment_template or DEFAULT_SEGMENT_TEMPLATE
        self.segment_prefix, self.segment_suffix = self._parse_template(self.segment_template)
        # offset of the [SEG] whose hidden state prompts the mask decoder, from the suffix start
        self.seg_offset = max(i for i, t in enumerate(self.segment_suffix) if t == self.seg_id)

    def _parse_template(self, template: str) -> Tuple[list, list]:
        """``template`` -> (ids before ``{text}``, ids after it); checks its form."""
        if template.count('{text}') != 1:
            raise ValueError(f'segment_template must contain {{text}} exactly once, got '
                             f'{template!r}')
        before, after = template.split('{text}')
        prefix = self.tokenizer.encode(before.strip(), add_special_tokens=False)
        suffix = self.tokenizer.encode(after.strip(), add_special_tokens=False)
        if self.seg_id not in suffix:
            raise ValueError(f'segment_template must have a [SEG] after {{text}}, got '
                             f'{template!r}')
        return prefix, suffix

    # ---- pieces -------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        """Width ``D`` of the LM's token embeddings / hidden states."""
        return self.lm.get_input_embeddings().weight.shape[1]

    @property
    def vocab_size(self) -> int:
        """Number of token ids ``V`` (the tokenizer's length)."""
        return len(self.tokenizer)

    def embedding_table(self) -> Tensor:
        """The LM's input-embedding weight [V', D]."""
        return self.lm.get_input_embeddings().weight

    def embed_ids(self, ids: Tensor) -> Tensor:
        """[B, L] ids -> [B, L, D] input embeddings."""
        return self.lm.get_input_embeddings()(ids)

    def image_tokens(self, images: Tensor) -> Tensor:
        """[B, 3, S, S] normalised images -> [B, N, D] projected patch features (N = grid^2)."""
        if images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            images = F.interpolate(images, size=(self.image_size, self.image_size),
                                   mode='bilinear', align_corners=False)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_vision_encoder):
            feats = self.vision_encoder(pixel_values=images).last_hidden_state
        return self.projector(feats[:, -self.grid * self.grid:])  # drop CLIP's class token

    def region_cells(self, masks: Tensor) -> Tensor:
        """[B, H, W] region masks -> [B, N] bool patch cells (nearest resize, >= 1 cell)."""
        m = masks[:, None].float()
        cells = F.interpolate(m, size=(self.grid, self.grid), mode='nearest').flatten(1) > 0.5
        area = F.adaptive_avg_pool2d(m, self.grid).flatten(1)
        empty = ~cells.any(1)
        if empty.any():
            cells[empty, area[empty].argmax(1)] = True
        return cells

    def _fill_context(self, ids: Tensor, visual: Tensor) -> Tensor:
        """Embed ``ids`` [B, L] and put ``visual`` [M, D] (row-major) at the context slots."""
        embeds = self.embed_ids(ids)
        slots = ids == self.ctx_id
        return embeds.masked_scatter(slots[..., None], visual.to(embeds.dtype))

    @staticmethod
    def position_ids(attention_mask: Tensor) -> Tensor:
        """Positions that skip padded slots: ``cumsum(mask) - 1`` (>= 0)."""
        return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)

    # ---- prompts ------------------------------------------------------------------------
    def caption_prompt(self, images: Tensor, region_masks: Tensor) -> Tuple[Tensor, Tensor]:
        """Left-padded caption prompts.

        Args:
            images (Tensor): [B, 3, S, S] normalised.
            region_masks (Tensor): [B, H, W] binary.

        Returns:
            tuple[Tensor, Tensor]: embeddings [B, P, D] and attention mask [B, P].
        """
        patches = self.image_tokens(images)
        cells = self.region_cells(region_masks)
        n = patches.shape[1]
        rows, visual = [], []
        for i in range(len(images)):
            k = int(cells[i].sum())
            rows.append([self.bos_id, self.img_ids[0]] + [self.ctx_id] * n
                        + [self.img_ids[1], self.vp_ids[0]] + [self.ctx_id] * k
                        + [self.vp_ids[1]] + self.caption_instruction)
            visual += [patches[i], patches[i][cells[i]]]
        length = max(len(r) for r in rows)
        ids = torch.tensor([[self.pad_id] * (length - len(r)) + r for r in rows],
                           device=images.device)
        attn = torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows],
                            device=images.device)
        return self._fill_context(ids, torch.cat(visual)), attn

    def caption_logits(self, images: Tensor, region_masks: Tensor, tokens: Tensor,
                       valid: Optional[Tensor] = None) -> Tensor:
        """Teacher-forced pass over prompt + tokens + EOS: the logits predicting each token.

        Args:
            images (Tensor): [B, 3, S, S].
            region_masks (Tensor): [B, H, W].
            tokens (Tensor): [B, T] caption ids.
            valid (Tensor, optional): [B, T] bool, positions that are not padding. Defaults
                to ``tokens != pad``.

        Returns:
            Tensor: [B, T, V] logits; row ``t`` predicts ``tokens[:, t]``.
        """
        if valid is None:
            valid = tokens != self.pad_id
        prompt, attn = self.caption_prompt(images, region_masks)
        eos = tokens.new_full((len(tokens), 1), self.eos_id)
        embeds = torch.cat([prompt, self.embed_ids(torch.cat([tokens, eos], 1))], 1)
        mask = torch.cat([attn, valid.long(), torch.ones_like(eos)], 1)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask,
                      position_ids=self.position_ids(mask))
        p, t = prompt.shape[1], tokens.shape[1]
        return out.logits[:, p - 1:p - 1 + t]

    @torch.no_grad()
    def generate_captions(self, images: Tensor, region_masks: Tensor, max_len: int) -> Tensor:
        """Greedy captions of the regions with ``generate``.

        Returns:
            Tensor: [B, max_len] ids: the words, EOS, then padding.
        """
        prompt, attn = self.caption_prompt(images, region_masks)
        out = self.lm.generate(
            inputs_embeds=prompt, attention_mask=attn, max_new_tokens=max_len, min_new_tokens=1,
            do_sample=False, pad_token_id=self.pad_id, eos_token_id=self.eos_id,
            bos_token_id=self.bos_id)
        out = out[:, -max_len:] if out.shape[1] > max_len else out
        return F.pad(out, (0, max_len - out.shape[1]), value=self.pad_id)

    def seg_hidden(self, images: Tensor, text_embeds: Tensor, valid: Tensor) -> Tensor:
        """Hidden state at ``[SEG]`` after the segmentation prompt with ``text_embeds``.

        Args:
            images (Tensor): [B, 3, S, S] normalised.
            text_embeds (Tensor): [B, T, D] referring text as embeddings.
            valid (Tensor): [B, T] bool, non-padding text positions.

        Returns:
            Tensor: [B, D] last-layer hidden state at ``[SEG]``.
        """
        b, n = len(images), self.grid * self.grid
        image_block = [self.img_ids[0]] + [self.ctx_id] * n + [self.img_ids[1]]
        prefix = ([self.bos_id] + (image_block if self.segment_image_tokens else [])
                  + self.segment_prefix)
        ids = torch.tensor(prefix, device=images.device).expand(b, -1)
        if self.segment_image_tokens:
            prefix_embeds = self._fill_context(ids, self.image_tokens(images).flatten(0, 1))
        else:
            prefix_embeds = self.embed_ids(ids)
        suffix = self.embed_ids(torch.tensor(self.segment_suffix, device=images.device)
                                .expand(b, -1))
        embeds = torch.cat([prefix_embeds, text_embeds.to(prefix_embeds.dtype), suffix], 1)
        ones = valid.new_ones((b, len(prefix) + len(self.segment_suffix)), dtype=torch.long)
        mask = torch.cat([ones[:, :len(prefix)], valid.long(), ones[:, len(prefix):]], 1)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask,
                      position_ids=self.position_ids(mask), output_hidden_states=True)
        return out.hidden_states[-1][:, len(prefix) + text_embeds.shape[1] + self.seg_offset]

    def trainable_groups(self) -> Sequence[Tuple[str, nn.Module]]:
        """Named parts for reports: vision encoder, projector, language model."""
        return [('vision_encoder', self.vision_encoder), ('projector', self.projector),
                ('language_model', self.lm)]
