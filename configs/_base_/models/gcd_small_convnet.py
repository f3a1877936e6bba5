# ContrastiveGCD with a small randomly initialised CNN (SmallConvNet, 28 px digits -> 128-d,
# CPU-sized) and the 3-layer projection head to 128-d.
_base_ = './contrastive_gcd.py'
model = dict(
    backbone=dict(type='SmallConvNet', channels=(32, 64, 128), blocks_per_stage=1),
    feat_dim=128, hidden_dim=512, out_dim=128)
