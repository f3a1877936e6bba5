# The CLIP CIL default: a tiny CLIP pretrained for 2000 steps with caption-level pairs, 240
# training and 120 test images per class (4 times the earlier 60 / 30), a base task of 14
# classes, then one of 2 (B14-inc2), and the settings of the earlier default (old prompts
# keep training, image adapter at 10 times the prompts' learning rate, 30 prompt epochs).
# Run
#   python tools/pretrain_tiny_clip.py --positives caption --steps 2000 \
#       --out data/tiny_clip_shapes_caption_2000steps
# once. The task split was chosen on four validation folds of the training images
# (benchmarks/clip_cil_selection.py --folds 4 --positives caption --pretrain-steps 2000
# --num-train 240 --splits 12:4 13:3 14:2): it has the largest Avg margin over NCM beyond
# the seed spread; docs/en/methods/clip_cil.md.
_base_ = './clip_cil_tiny-pretrained_b12-inc4_shapes.py'

clip_folder = 'data/tiny_clip_shapes_caption_2000steps'
init_class, increment = 14, 2
num_train, num_test = 240, 120  # images per class

model = dict(clip=dict(pretrained=clip_folder), init_class=init_class, increment=increment)
train_dataloader = dict(dataset=dict(num_train=num_train))
val_dataloader = dict(dataset=dict(num_test=num_test))
test_dataloader = val_dataloader
