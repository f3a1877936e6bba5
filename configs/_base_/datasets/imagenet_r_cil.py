# ImageNet-R in its folder layout (data_root/<wnid>/*.jpg), fixed 80/20 split per class.
# Prompts need class words: class_names_file maps folders to names (json or "wnid name").
_base_ = './cil_classification.py'
cil_dataset = dict(type='ImageNetRCILDataset', data_root='data/imagenet-r',
                   class_names_file='data/imagenet-r/classnames.txt', test_ratio=0.2, split_seed=0)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),  # no effect on epochs trained on cached features
    dict(type='PackCILInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]
train_dataloader = dict(dataset=dict(cil_dataset, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(cil_dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader
