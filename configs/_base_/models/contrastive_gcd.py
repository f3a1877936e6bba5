# ContrastiveGCD without its backbone: GCD's 3-layer projection head to 256-d, the unsupervised
# (InfoNCE), supervised and pseudo-label contrastive losses and the two-view augmentation.
# A model base inherits this file and adds `backbone`, `feat_dim` (its output) and `hidden_dim`.
model = dict(
    type='ContrastiveGCD',
    out_dim=256, sup_con_weight=0.35,
    loss_contrast=dict(type='InfoNCELoss', temperature=1.0),
    loss_supcon=dict(type='SupConLoss', temperature=0.07),
    loss_pseudo=dict(type='PseudoSupConLoss', temperature=0.07),
    data_preprocessor=dict(type='TwoViewDataPreprocessor', flip_prob=0.5, crop_scale=(0.5, 1.0),
                           jitter=0.4))
