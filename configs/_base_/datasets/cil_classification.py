# Loaders shared by the class-incremental classification datasets; each dataset base adds
# `dataset=dict(type, data_root, pipeline)`. Class order: PyCIL's
# permutation for the random seed `class_order_seed`.
class_order_seed = 1993

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(split='train', class_order_seed=class_order_seed))
# the same workers and collate, a larger batch, no shuffling, the test split
val_dataloader = dict(train_dataloader, batch_size=128,
                      sampler=dict(type='DefaultSampler', shuffle=False),
                      dataset=dict(split='test', class_order_seed=class_order_seed))
test_dataloader = val_dataloader
