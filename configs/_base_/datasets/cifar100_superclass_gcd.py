# CIFAR-100 (python pickles under data/cifar100) restricted to one superclass: its 5 fine
# classes, the first 3 old (half of their images labelled), the last 2 new; images to 224 px.
superclass = 0
num_old_classes = 3
num_classes = 5
data_root = 'data/cifar100'

pipeline = [dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
            dict(type='PackCILInputs')]
cifar_train = dict(type='CIFAR100SuperclassDataset', data_root=data_root, split='train',
                   superclass=superclass, pipeline=pipeline)
gcd_train = dict(type='GCDDatasetWrapper', dataset=cifar_train, num_old_classes=num_old_classes,
                 labelled_ratio=0.5, seed=0)
train_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(gcd_train, split='train'))
val_dataloader = dict(
    batch_size=256, num_workers=4, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(gcd_train, split='unlabelled'))
val_evaluator = dict(type='GCDMetric', num_old_classes=num_old_classes, num_clusters=num_classes)
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type='GCDDatasetWrapper', num_old_classes=num_old_classes, split='all',
                 dataset=dict(cifar_train, split='test')))
test_evaluator = val_evaluator
