# The offline default on a tiny CLIP pretrained with caption-level pairs: an image and a
# caption pair up only when every word of the caption holds for the image. Run
#   python tools/pretrain_tiny_clip.py --positives caption --out data/tiny_clip_shapes_caption
# once. The adapter trains at the prompts' learning rate: the setting with the largest Avg
# margin over NCM beyond the seed spread on four validation folds of this CLIP
# (benchmarks/clip_cil_selection.py --folds 4 --positives caption).
_base_ = './clip_cil_tiny-pretrained_b12-inc4_shapes.py'

clip_folder = 'data/tiny_clip_shapes_caption'
adapter_lr_mult = 1.0  # the adapter's learning rate over the prompts'

model = dict(clip=dict(pretrained=clip_folder))
train_cfg = dict(stages=dict(prompts=dict(optim_wrapper=dict(paramwise_cfg=dict(custom_keys={
    'image_adapter': dict(lr_mult=adapter_lr_mult)
})))))
