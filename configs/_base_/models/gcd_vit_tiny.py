# ContrastiveGCD with a small randomly initialised ViT (CPU-sized) and the 3-layer projection
# head to 256-d.
_base_ = './contrastive_gcd.py'
model = dict(
    backbone=dict(type='TorchvisionViT', image_size=28, patch_size=7, num_layers=2, num_heads=2,
                  hidden_dim=64, mlp_dim=128),
    feat_dim=64, hidden_dim=512)
