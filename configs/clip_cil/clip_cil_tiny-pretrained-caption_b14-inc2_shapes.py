# The offline default's settings on a tiny CLIP pretrained with caption-level pairs, with a
# base task of 14 classes and a second of 2 (B14-inc2). Run
#   python tools/pretrain_tiny_clip.py --positives caption --out data/tiny_clip_shapes_caption
# once. On four validation folds of this CLIP (benchmarks/clip_cil_selection.py --folds 4
# --positives caption, task splits 12:4, 13:3 and 14:2) this split and these settings have
# the largest Avg margin over NCM beyond the seed spread.
_base_ = './clip_cil_tiny-pretrained_b12-inc4_shapes.py'

clip_folder = 'data/tiny_clip_shapes_caption'
init_class, increment = 14, 2

model = dict(clip=dict(pretrained=clip_folder), init_class=init_class, increment=increment)
