# ContrastiveGCD with a small randomly initialised CNN (SmallConvNet: 28 px digits, three
# conv stages, flattened to a 128-d vector; CPU-sized) and the 3-layer projection head.
_base_ = './contrastive_gcd.py'
model = dict(
    backbone=dict(type='SmallConvNet', channels=(32, 64, 128), blocks_per_stage=1,
                  out_features=128, input_size=28),
    feat_dim=128, hidden_dim=512, out_dim=128)
