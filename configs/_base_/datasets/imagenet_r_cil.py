# ImageNet-R in its folder layout (data_root/<wnid>/*.jpg), fixed 80/20 split per class.
# Prompts need class words: class_names_file maps folders to names (json or "wnid name").
dataset_type = 'ImageNetRCILDataset'
data_root = 'data/imagenet-r'
class_names_file = 'data/imagenet-r/classnames.txt'
class_order_seed = 1993

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackCILInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='PackCILInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 class_names_file=class_names_file, test_ratio=0.2, split_seed=0,
                 class_order_seed=class_order_seed, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 class_names_file=class_names_file, test_ratio=0.2, split_seed=0,
                 class_order_seed=class_order_seed, pipeline=test_pipeline))
test_dataloader = val_dataloader
