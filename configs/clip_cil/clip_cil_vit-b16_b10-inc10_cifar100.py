# CLIP class-incremental learning on CIFAR-100, B10-Inc10 (10 tasks of 10 classes, PyCIL /
# RAPF class order of seed 1993), OpenAI CLIP ViT-B/16 from data/clip/ (see
# docs/en/methods/clip_cil.md for the weights and the data).
_base_ = [
    '../_base_/models/clip_vit_b16.py', '../_base_/datasets/cifar100_cil.py',
    '../_base_/schedules/clip_cil_2stage.py'
]
num_classes, init_class, increment = 100, 10, 10

model = dict(num_classes=num_classes, init_class=init_class, increment=increment)
