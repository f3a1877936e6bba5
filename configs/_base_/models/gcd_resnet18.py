# ContrastiveGCD with a torchvision ResNet-18 (random init, nothing downloaded) and GCD's
# 3-layer projection head to 256-d.
model = dict(
    type='ContrastiveGCD',
    backbone=dict(type='TorchvisionResNet', depth=18, out_stride=32),
    feat_dim=512, hidden_dim=2048, out_dim=256, sup_con_weight=0.35,
    loss_contrast=dict(type='InfoNCELoss', temperature=1.0),
    loss_supcon=dict(type='SupConLoss', temperature=0.07),
    loss_pseudo=dict(type='PseudoSupConLoss', temperature=0.07),
    data_preprocessor=dict(type='TwoViewDataPreprocessor', flip_prob=0.5, crop_scale=(0.5, 1.0),
                           jitter=0.4))
