"""TorchvisionViT: class-token output and DINO (timm-named) weights."""
import torch

from cissreg.models.backbones import TorchvisionViT

KW = dict(image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16)


def _to_dino(state):
    """torchvision names -> DINO / timm names, written out independently of the module."""
    out = {}
    for k, v in state.items():
        k = k.replace('vit.', '', 1)
        k = (k.replace('class_token', 'cls_token').replace('encoder.pos_embedding', 'pos_embed')
             .replace('conv_proj.', 'patch_embed.proj.').replace('encoder.ln.', 'norm.'))
        k = k.replace('encoder.layers.encoder_layer_', 'blocks.')
        k = (k.replace('.ln_1.', '.norm1.').replace('.ln_2.', '.norm2.')
             .replace('.self_attention.in_proj_weight', '.attn.qkv.weight')
             .replace('.self_attention.in_proj_bias', '.attn.qkv.bias')
             .replace('.self_attention.out_proj.', '.attn.proj.')
             .replace('.mlp.0.', '.mlp.fc1.').replace('.mlp.3.', '.mlp.fc2.'))
        out[k] = v
    out['head.weight'] = torch.zeros(3, 8)
    return out


def test_loads_dino_weights_and_returns_class_token(tmp_path):
    torch.manual_seed(0)
    src = TorchvisionViT(**KW)
    path = tmp_path / 'dino.pth'
    torch.save(_to_dino(src.state_dict()), path)
    dst = TorchvisionViT(checkpoint=str(path), frozen_blocks=1, **KW)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(dst(x), src(x))
    assert dst(x).shape == (2, 8)
    assert not dst.vit.encoder.layers[0].ln_1.weight.requires_grad
    assert dst.vit.encoder.layers[1].ln_1.weight.requires_grad
