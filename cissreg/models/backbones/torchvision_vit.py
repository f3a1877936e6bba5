"""torchvision VisionTransformer as a backbone returning the class token; loads DINO weights."""
import re
from typing import Dict, Optional

import torch
from mmengine.model import BaseModule
from torch import Tensor
from torchvision.models.vision_transformer import VisionTransformer

from cissreg.registry import MODELS

_DINO_RULES = (
    (r'^cls_token$', 'class_token'),
    (r'^pos_embed$', 'encoder.pos_embedding'),
    (r'^patch_embed\.proj\.', 'conv_proj.'),
    (r'^blocks\.(\d+)\.norm1\.', r'encoder.layers.encoder_layer_\1.ln_1.'),
    (r'^blocks\.(\d+)\.norm2\.', r'encoder.layers.encoder_layer_\1.ln_2.'),
    (r'^blocks\.(\d+)\.attn\.qkv\.weight$',
     r'encoder.layers.encoder_layer_\1.self_attention.in_proj_weight'),
    (r'^blocks\.(\d+)\.attn\.qkv\.bias$',
     r'encoder.layers.encoder_layer_\1.self_attention.in_proj_bias'),
    (r'^blocks\.(\d+)\.attn\.proj\.', r'encoder.layers.encoder_layer_\1.self_attention.out_proj.'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.', r'encoder.layers.encoder_layer_\1.mlp.0.'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.', r'encoder.layers.encoder_layer_\1.mlp.3.'),
    (r'^norm\.', 'encoder.ln.'),
)


def dino_to_torchvision(state: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Rename the keys of a DINO / timm ViT state dict (``dino_vitbase16_pretrain.pth``) to
    torchvision's ``VisionTransformer`` names (same tensors; ``head.*`` keys are dropped)."""
    out = {}
    for key, value in state.items():
        if key.startswith('head'):
            continue
        new = key
        for pattern, repl in _DINO_RULES:
            new = re.sub(pattern, repl, new)
        out[new] = value
    return out


@MODELS.register_module()
class TorchvisionViT(BaseModule):
    """torchvision ``VisionTransformer`` without its classifier: ``[N, 3, H, W] -> [N, D]``
    (the final class token, as GCD uses DINO's CLS feature).

    Built without download. ``checkpoint`` loads a local file in torchvision or DINO / timm
    naming (:func:`dino_to_torchvision`), e.g. ViT-B/16 = ``patch_size=16, num_layers=12,
    num_heads=12, hidden_dim=768, mlp_dim=3072`` with ``dino_vitbase16_pretrain.pth``.

    Args:
        image_size (int): Input side. Defaults to 224.
        patch_size (int): Defaults to 16.
        num_layers (int): Defaults to 12.
        num_heads (int): Defaults to 12.
        hidden_dim (int): Defaults to 768.
        mlp_dim (int): Defaults to 3072.
        checkpoint (str, optional): Local weight file. Defaults to None (random init).
        frozen_blocks (int): Freeze the patch embedding and the first blocks (GCD fine-tunes
            only the last block of DINO). Defaults to 0.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, image_size: int = 224, patch_size: int = 16, num_layers: int = 12,
                 num_heads: int = 12, hidden_dim: int = 768, mlp_dim: int = 3072,
                 checkpoint: Optional[str] = None, frozen_blocks: int = 0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.vit = VisionTransformer(image_size=image_size, patch_size=patch_size,
                                     num_layers=num_layers, num_heads=num_heads,
                                     hidden_dim=hidden_dim, mlp_dim=mlp_dim)
        del self.vit.heads
        self.out_channels = hidden_dim
        if checkpoint is not None:
            state = torch.load(checkpoint, map_location='cpu', weights_only=True)
            state = state.get('state_dict', state.get('model', state))
            if any(k.startswith('blocks.') for k in state):
                state = dino_to_torchvision(state)
            state = {k: v for k, v in state.items() if not k.startswith('heads')}
            self.vit.load_state_dict(state, strict=True)
        if frozen_blocks > 0:
            frozen = [self.vit.conv_proj, *list(self.vit.encoder.layers)[:frozen_blocks]]
            self.vit.class_token.requires_grad_(False)
            self.vit.encoder.pos_embedding.requires_grad_(False)
            for module in frozen:
                module.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` -> class token ``[N, hidden_dim]``."""
        x = self.vit._process_input(x)
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        return self.vit.encoder(torch.cat([cls, x], dim=1))[:, 0]
