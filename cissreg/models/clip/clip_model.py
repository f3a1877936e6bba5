"""Build a transformers ``CLIPModel`` offline and run its towers on ids or prompt embeddings.

Weights come from a local Hugging Face folder, a local state dict in transformers' layout, or
an OpenAI CLIP checkpoint converted on the fly; nothing is ever downloaded.

The text tower is called piece by piece (embeddings -> causal encoder -> final LayerNorm ->
pooling at the end-of-text token -> projection) so that learnable prompt vectors can replace
token embeddings. Because the text transformer is causal, the feature at the end-of-text
position depends only on the tokens before it: sequences are cut after the last end-of-text
token of the batch, which gives the same features as the full 77-token pass, faster.
"""
import os
from typing import TYPE_CHECKING, Optional

import torch
from torch import Tensor

from cissreg.utils.optional_import import import_optional

from .openai_convert import (convert_openai_clip_state_dict, is_openai_clip_state_dict,
                             load_openai_clip_state_dict)

if TYPE_CHECKING:  # transformers is imported when a model is built (it is slow to import)
    from transformers import CLIPConfig, CLIPModel


def _read_state_dict(path: str) -> dict:
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    if path.endswith(('.pt', '.pth', '.bin')):
        return load_openai_clip_state_dict(path)
    raise ValueError(f"CLIP weights '{path}': expected a Hugging Face folder or a .pt / .pth / "
                     '.bin / .safetensors file')


def build_clip_config(config: dict) -> 'CLIPConfig':
    """``CLIPConfig`` from a plain dict (``text_config``, ``vision_config``, ...).

    The text config's special token ids default to the last two ids of its vocabulary
    (``<|startoftext|>``, ``<|endoftext|>``), as in CLIP's tokenizer.
    """
    CLIPConfig = import_optional('transformers', 'clip', 'CLIP models').CLIPConfig
    config = dict(config)
    text = dict(config.pop('text_config', {}))
    vocab_size = text.get('vocab_size', 49408)
    text.setdefault('bos_token_id', vocab_size - 2)
    text.setdefault('eos_token_id', vocab_size - 1)
    text.setdefault('pad_token_id', 0)
    return CLIPConfig(text_config=text, vision_config=dict(config.pop('vision_config', {})),
                      **config)


def build_clip_model(config: Optional[dict] = None,
                     pretrained: Optional[str] = None,
                     attn_implementation: str = 'sdpa') -> 'CLIPModel':
    """Build a ``CLIPModel`` from a config dict and/or local weights.

    Args:
        config (dict, optional): ``CLIPConfig`` kwargs. Ignored for a Hugging Face folder or an
            OpenAI checkpoint (their own shapes win); required for random init or a state dict
            in transformers' layout.
        pretrained (str, optional): A local Hugging Face CLIP folder (``config.json`` +
            weights), an OpenAI CLIP ``.pt`` (TorchScript or state dict, converted), or a
            transformers-layout ``.pth`` / ``.bin`` / ``.safetensors`` state dict.
        attn_implementation (str): ``'sdpa'`` or ``'eager'``. Defaults to ``'sdpa'``.

    Returns:
        CLIPModel: in float32.
    """
    CLIPModel = import_optional('transformers', 'clip', 'CLIP models').CLIPModel
    if pretrained is None:
        if config is None:
            raise ValueError('build_clip_model needs a config dict or pretrained weights')
        hf_config = build_clip_config(config)
        hf_config._attn_implementation = attn_implementation
        return CLIPModel(hf_config)
    if os.path.isdir(pretrained):
        return CLIPModel.from_pretrained(pretrained, local_files_only=True,
                                         attn_implementation=attn_implementation,
                                         dtype=torch.float32)
    if not os.path.isfile(pretrained):
        raise FileNotFoundError(f"CLIP weights '{pretrained}' not found (model.clip.pretrained "
                                'in the config): give a local Hugging Face CLIP folder or an '
                                'OpenAI CLIP .pt; weights are never downloaded')
    state_dict = _read_state_dict(pretrained)
    if is_openai_clip_state_dict(state_dict):
        state_dict, config = convert_openai_clip_state_dict(state_dict)
    elif config is None:
        raise ValueError(f"'{pretrained}' is a transformers-layout state dict: the config dict "
                         'is needed to build the model')
    hf_config = build_clip_config(config)
    hf_config._attn_implementation = attn_implementation
    model = CLIPModel(hf_config)
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    missing = [k for k in missing if not k.endswith('position_ids')]
    if missing or unexpected:
        raise KeyError(f"CLIP weights '{pretrained}' do not fit the config: missing "
                       f'{missing[:10]}, unexpected {list(unexpected)[:10]}')
    return model


def encode_image(clip: 'CLIPModel', pixel_values: Tensor) -> Tensor:
    """Projected image embeddings (not normalised).

    Args:
        clip (CLIPModel): The model.
        pixel_values (Tensor): [B, 3, H, W] normalised images.

    Returns:
        Tensor: [B, projection_dim].
    """
    pooled = clip.vision_model(pixel_values=pixel_values).pooler_output
    return clip.visual_projection(pooled)


def causal_mask(length: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Additive causal attention mask [1, 1, L, L] (0 on and below the diagonal)."""
    mask = torch.full((length, length), torch.finfo(dtype).min, dtype=dtype, device=device)
    return mask.triu(1)[None, None]


def encode_text_embeds(clip: 'CLIPModel', token_embeds: Tensor, eot_index: Tensor) -> Tensor:
    """Projected text embeddings from token embeddings (e.g. with learnable prompt vectors).

    Args:
        clip (CLIPModel): The model.
        token_embeds (Tensor): [N, L, width] token embeddings (before position embeddings).
        eot_index (Tensor): [N] int64 position of the end-of-text token of each row.

    Returns:
        Tensor: [N, projection_dim] (not normalised).
    """
    length = int(eot_index.max()) + 1
    token_embeds = token_embeds[:, :length]
    text = clip.text_model
    hidden = text.embeddings(inputs_embeds=token_embeds)
    mask = causal_mask(length, hidden.dtype, hidden.device)
    hidden = text.encoder(inputs_embeds=hidden, attention_mask=mask).last_hidden_state
    hidden = text.final_layer_norm(hidden)
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), eot_index]
    return clip.text_projection(pooled)


def encode_text_ids(clip: 'CLIPModel', input_ids: Tensor) -> Tensor:
    """Projected text embeddings of tokenized text (end-of-text = the largest id of a row).

    Args:
        clip (CLIPModel): The model.
        input_ids (Tensor): [N, L] int64 ids from :class:`CLIPTokenizer`.

    Returns:
        Tensor: [N, projection_dim] (not normalised).
    """
    eot_index = input_ids.argmax(dim=-1)
    embeds = clip.text_model.embeddings.token_embedding(input_ids)
    return encode_text_embeds(clip, embeds, eot_index)
