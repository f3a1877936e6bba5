# Loaders and metric of the GCD dataset bases (GCDDatasetWrapper over a labelled dataset). The
# splits are set here: training reads the whole training split, validation is transductive
# (clustering accuracy on the unlabelled training images), test scores the test split. A
# dataset base inherits this file and adds the datasets, `num_old_classes` and the workers;
# GCDMetric reads the old-class and cluster counts from the evaluated dataset's metainfo.
train_dataloader = dict(
    batch_size=128, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(split='train'))
val_dataloader = dict(
    batch_size=256, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'),
    dataset=dict(split='unlabelled'))
test_dataloader = dict(val_dataloader, dataset=dict(type='GCDDatasetWrapper', split='all'))
val_evaluator = dict(type='GCDMetric')
test_evaluator = val_evaluator
