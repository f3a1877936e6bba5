# ContrastiveGCD with a torchvision ResNet-18 (random init, nothing downloaded) and GCD's
# 3-layer projection head to 256-d.
_base_ = './contrastive_gcd.py'
model = dict(backbone=dict(type='TorchvisionResNet', depth=18, out_stride=32),
             feat_dim=512, hidden_dim=2048)
