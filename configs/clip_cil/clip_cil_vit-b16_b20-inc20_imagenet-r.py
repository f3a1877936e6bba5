# CLIP class-incremental learning on ImageNet-R, B20-Inc20 (10 tasks of 20 classes, class
# order of seed 1993, fixed 80/20 split per class), OpenAI CLIP ViT-B/16 from data/clip/.
# The prompts need data/imagenet-r/classnames.txt ("n01443537 goldfish" per line).
_base_ = [
    '../_base_/models/clip_vit_b16.py', '../_base_/datasets/imagenet_r_cil.py',
    '../_base_/schedules/clip_cil_2stage.py'
]
num_classes, init_class, increment = 200, 20, 20

model = dict(num_classes=num_classes, init_class=init_class, increment=increment)
default_hooks = dict(replay=dict(samples_per_old_class=32))
