"""OpenAI CLIP (ViT) state dict -> transformers ``CLIPModel`` state dict and config.

OpenAI's layout (also open_clip's for the OpenAI architecture): ``visual.conv1``,
``visual.class_embedding``, ``visual.positional_embedding``, ``visual.ln_pre``,
``visual.transformer.resblocks.{i}.{ln_1,attn.in_proj_*,attn.out_proj,ln_2,mlp.c_fc,mlp.c_proj}``,
``visual.ln_post``, ``visual.proj`` [width, embed]; text ``token_embedding``,
``positional_embedding``, ``transformer.resblocks.{i}...``, ``ln_final``,
``text_projection`` [width, embed]; ``logit_scale``. The fused ``in_proj`` is split into
q / k / v and the projections are transposed into ``nn.Linear`` weights.
"""
import os
import zipfile
from typing import Dict, Optional, Tuple

import torch

_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')


def is_openai_clip_state_dict(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` uses OpenAI's ViT CLIP key layout."""
    return 'visual.proj' in state_dict and 'token_embedding.weight' in state_dict


def load_openai_clip_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read an OpenAI CLIP checkpoint: a TorchScript archive (``ViT-B-16.pt``) or a state dict.

    TorchScript archives are read with ``torch.jit.load`` (no pickled Python objects); plain
    state dicts with ``torch.load(weights_only=True)``. Tensors are returned in float32.

    Args:
        path (str): Local file.

    Returns:
        dict[str, Tensor]: OpenAI-layout state dict.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"OpenAI CLIP checkpoint '{path}' not found")
    state_dict = None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            is_script = any(name.endswith('constants.pkl') or '/code/' in name
                            for name in archive.namelist())
        if is_script:
            state_dict = torch.jit.load(path, map_location='cpu').state_dict()
    if state_dict is None:
        state_dict = torch.load(path, map_location='cpu', weights_only=True)
        if isinstance(state_dict, dict) and 'state_dict' in state_dict:
            state_dict = state_dict['state_dict']
    return {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}


def openai_clip_config(state_dict: Dict[str, torch.Tensor],
                       vision_heads: Optional[int] = None,
                       text_heads: Optional[int] = None) -> dict:
    """transformers ``CLIPConfig`` kwargs for an OpenAI ViT CLIP state dict.

    Head counts are not stored in the weights; OpenAI's models use ``width // 64`` (the
    default here).

    Args:
        state_dict (dict): OpenAI-layout state dict.
        vision_heads (int, optional): Vision attention heads. Defaults to ``width // 64``.
        text_heads (int, optional): Text attention heads. Defaults to ``width // 64``.

    Returns:
        dict: ``dict(text_config=..., vision_config=..., projection_dim=...,
        logit_scale_init_value=...)``.
    """
    if not is_openai_clip_state_dict(state_dict):
        raise KeyError('not an OpenAI ViT CLIP state dict: expected keys visual.proj and '
                       'token_embedding.weight (ResNet CLIP models are not supported)')
    vision_width = state_dict['visual.conv1.weight'].shape[0]
    patch = state_dict['visual.conv1.weight'].shape[-1]
    grid = round((state_dict['visual.positional_embedding'].shape[0] - 1)**0.5)
    vision_layers = len({k.split('.')[3] for k in state_dict
                         if k.startswith('visual.transformer.resblocks.')})
    text_width = state_dict['ln_final.weight'].shape[0]
    text_layers = len({k.split('.')[2] for k in state_dict
                       if k.startswith('transformer.resblocks.')})
    vocab_size = state_dict['token_embedding.weight'].shape[0]
    return dict(
        text_config=dict(
            vocab_size=vocab_size,
            hidden_size=text_width,
            intermediate_size=state_dict['transformer.resblocks.0.mlp.c_fc.weight'].shape[0],
            num_hidden_layers=text_layers,
            num_attention_heads=text_heads or max(text_width // 64, 1),
            max_position_embeddings=state_dict['positional_embedding'].shape[0],
            hidden_act='quick_gelu',
            layer_norm_eps=1e-5,
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=0),
        vision_config=dict(
            hidden_size=vision_width,
            intermediate_size=state_dict[
                'visual.transformer.resblocks.0.mlp.c_fc.weight'].shape[0],
            num_hidden_layers=vision_layers,
            num_attention_heads=vision_heads or max(vision_width // 64, 1),
            image_size=patch * grid,
            patch_size=patch,
            hidden_act='quick_gelu',
            layer_norm_eps=1e-5),
        projection_dim=state_dict['text_projection'].shape[1],
        logit_scale_init_value=float(state_dict['logit_scale']))


def _convert_block(src: Dict[str, torch.Tensor], src_prefix: str, dst_prefix: str,
                   out: Dict[str, torch.Tensor]) -> None:
    weight = src[f'{src_prefix}.attn.in_proj_weight']
    bias = src[f'{src_prefix}.attn.in_proj_bias']
    for name, w, b in zip(('q_proj', 'k_proj', 'v_proj'), weight.chunk(3), bias.chunk(3)):
        out[f'{dst_prefix}.self_attn.{name}.weight'] = w.clone()
        out[f'{dst_prefix}.self_attn.{name}.bias'] = b.clone()
    pairs = (('attn.out_proj', 'self_attn.out_proj'), ('ln_1', 'layer_norm1'),
             ('ln_2', 'layer_norm2'), ('mlp.c_fc', 'mlp.fc1'), ('mlp.c_proj', 'mlp.fc2'))
    for src_name, dst_name in pairs:
        for param in ('weight', 'bias'):
            out[f'{dst_prefix}.{dst_name}.{param}'] = src[f'{src_prefix}.{src_name}.{param}']


def convert_openai_clip_state_dict(
        state_dict: Dict[str, torch.Tensor],
        vision_heads: Optional[int] = None,
        text_heads: Optional[int] = None) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert an OpenAI ViT CLIP state dict to transformers ``CLIPModel`` keys.

    Args:
        state_dict (dict): OpenAI-layout state dict (float tensors).
        vision_heads (int, optional): See :func:`openai_clip_config`.
        text_heads (int, optional): See :func:`openai_clip_config`.

    Returns:
        tuple[dict, dict]: ``(hf_state_dict, clip_config_kwargs)``.
    """
    config = openai_clip_config(state_dict, vision_heads, text_heads)
    sd = {k: v for k, v in state_dict.items() if k not in _EXTRA_KEYS}
    out: Dict[str, torch.Tensor] = {}
    v, t = 'vision_model', 'text_model'
    out[f'{v}.embeddings.class_embedding'] = sd['visual.class_embedding']
    out[f'{v}.embeddings.patch_embedding.weight'] = sd['visual.conv1.weight']
    out[f'{v}.embeddings.position_embedding.weight'] = sd['visual.positional_embedding']
    for param in ('weight', 'bias'):
        out[f'{v}.pre_layrnorm.{param}'] = sd[f'visual.ln_pre.{param}']
        out[f'{v}.post_layernorm.{param}'] = sd[f'visual.ln_post.{param}']
        out[f'{t}.final_layer_norm.{param}'] = sd[f'ln_final.{param}']
    for i in range(config['vision_config']['num_hidden_layers']):
        _convert_block(sd, f'visual.transformer.resblocks.{i}', f'{v}.encoder.layers.{i}', out)
    for i in range(config['text_config']['num_hidden_layers']):
        _convert_block(sd, f'transformer.resblocks.{i}', f'{t}.encoder.layers.{i}', out)
    out[f'{t}.embeddings.token_embedding.weight'] = sd['token_embedding.weight']
    out[f'{t}.embeddings.position_embedding.weight'] = sd['positional_embedding']
    out['visual_projection.weight'] = sd['visual.proj'].t().contiguous()
    out['text_projection.weight'] = sd['text_projection'].t().contiguous()
    out['logit_scale'] = sd['logit_scale'].reshape(())
    return out, config
