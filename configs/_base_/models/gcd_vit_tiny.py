# ContrastiveGCD with a small randomly initialised ViT (CPU-sized) and the 3-layer projection
# head to 256-d.
model = dict(
    type='ContrastiveGCD',
    backbone=dict(type='TorchvisionViT', image_size=28, patch_size=7, num_layers=2, num_heads=2,
                  hidden_dim=64, mlp_dim=128),
    feat_dim=64, hidden_dim=512, out_dim=256, sup_con_weight=0.35,
    loss_contrast=dict(type='InfoNCELoss', temperature=1.0),
    loss_supcon=dict(type='SupConLoss', temperature=0.07),
    loss_pseudo=dict(type='PseudoSupConLoss', temperature=0.07),
    data_preprocessor=dict(type='TwoViewDataPreprocessor', flip_prob=0.5, crop_scale=(0.5, 1.0),
                           jitter=0.4))
