"""LoRA (peft) on chosen layers of CLIP's vision encoder, and switching it off."""
from contextlib import contextmanager
from typing import Iterator, List, Optional

from torch import nn

from cissreg.utils.optional_import import import_optional


def inject_vision_lora(clip: nn.Module, cfg: Optional[dict]) -> List[nn.Parameter]:
    """Add peft LoRA to the attention projections of chosen vision layers (frozen at first).

    Args:
        clip (CLIPModel): The model (changed in place).
        cfg (dict, optional): ``dict(rank=8, alpha=16, layers=[...], target_modules=('q_proj',
            'v_proj'), dropout=0.0)``; None adds nothing.

    Returns:
        list[nn.Parameter]: The LoRA parameters (``requires_grad=False``).
    """
    if cfg is None:
        return []
    peft = import_optional('peft', 'clip', 'LoRA in CLIP models')
    LoraConfig, inject_adapter_in_model = peft.LoraConfig, peft.inject_adapter_in_model
    cfg = dict(cfg)
    layers = cfg.pop('layers')
    modules = cfg.pop('target_modules', ('q_proj', 'v_proj'))
    num_layers = clip.config.vision_config.num_hidden_layers
    bad = [i for i in layers if not 0 <= i < num_layers]
    if bad:
        raise ValueError(f'lora.layers {bad} out of range: the vision encoder has '
                         f'{num_layers} layers')
    targets = [f'encoder.layers.{i}.self_attn.{m}' for i in layers for m in modules]
    lora_config = LoraConfig(r=cfg.pop('rank', 8), lora_alpha=cfg.pop('alpha', 16),
                             lora_dropout=cfg.pop('dropout', 0.0), target_modules=targets)
    if cfg:
        raise ValueError(f'lora: unknown keys {sorted(cfg)} (accepted: rank, alpha, '
                         'layers, target_modules, dropout)')
    inject_adapter_in_model(lora_config, clip.vision_model)
    params = [p for n, p in clip.vision_model.named_parameters() if 'lora_' in n]
    for p in params:
        p.requires_grad_(False)
    return params


@contextmanager
def lora_disabled(clip: nn.Module, params: List[nn.Parameter]) -> Iterator[None]:
    """Run CLIP's vision encoder without its LoRA deltas (the frozen base encoder).

    peft's ``enable_adapters`` also changes ``requires_grad`` of the adapters; their flags are
    put back on exit.
    """
    if not params:
        yield
        return
    BaseTunerLayer = import_optional('peft.tuners.tuners_utils', 'clip',
                                     'LoRA in CLIP models').BaseTunerLayer
    layers = [m for m in clip.vision_model.modules() if isinstance(m, BaseTunerLayer)]
    flags = [p.requires_grad for p in params]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
