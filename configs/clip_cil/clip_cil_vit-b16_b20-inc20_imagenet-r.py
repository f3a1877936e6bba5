# CLIP class-incremental learning on ImageNet-R, B20-Inc20 (10 tasks of 20 classes, class
# order of seed 1993, fixed 80/20 split per class), OpenAI CLIP ViT-B/16 from a local folder.
# ImageNet-R's folders are WordNet ids: the prompts need data/imagenet-r/classnames.txt
# ("n01443537 goldfish" per line). See docs/en/methods/clip_cil.md.
_base_ = [
    '../_base_/models/clip_vit_b16.py', '../_base_/datasets/imagenet_r_cil.py',
    '../_base_/default_runtime.py'
]

# ---- frequently changed ----
seed = 1993                 # torch / numpy / random and the class order
num_classes = 200
init_class = 20
increment = 20
stage1_epochs = 5           # prompts (+ replay + hinge from task 1), on cached features
init_stage1_epochs = 5
stage2_epochs = 3           # per-task heads (tasks >= 1)
batch_size = 64
lr = 0.002                  # stage 1 (prompts)
stage2_lr = 0.001           # stage 2 (heads, LoRA)
samples_per_old_class = 32  # Gaussian replay per old class and epoch
clip_weights = 'data/clip/clip-vit-base-patch16'   # HF folder or OpenAI ViT-B-16.pt
clip_bpe = 'data/clip/clip-vit-base-patch16/merges.txt'  # or bpe_simple_vocab_16e6.txt.gz

model = dict(
    clip=dict(pretrained=clip_weights),
    tokenizer=dict(bpe_path=clip_bpe),
    num_classes=num_classes, init_class=init_class, increment=increment,
    text_hinge_loss=dict(hard_pair_threshold=0.8, top_hard_pairs=10, margin=0.1,
                         loss_weight=1.0),
    second_stage_start_task=1, second_stage_logit_scale=None,
    second_stage_fusion_weight=0.3)

train_dataloader = dict(batch_size=batch_size, dataset=dict(class_order_seed=seed))
val_dataloader = dict(dataset=dict(class_order_seed=seed))
test_dataloader = val_dataloader

train_cfg = dict(
    type='IncrementalLoop',
    init_class=init_class,
    increment=increment,
    max_epochs=stage1_epochs,
    init_max_epochs=init_stage1_epochs,
    cache_features=True,
    second_stage=dict(
        max_epochs=stage2_epochs,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=stage2_lr, momentum=0.9,
                                          weight_decay=0.0)),
        param_scheduler=[dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0.0)]),
    results_file='cil_results.json')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
val_evaluator = dict(type='CILMetric', num_classes=num_classes, init_class=init_class,
                     increment=increment)
test_evaluator = val_evaluator

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=lr, momentum=0.9, weight_decay=0.0))
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=True, eta_min=0.0)]

custom_hooks = [dict(type='GaussianReplayHook', samples_per_old_class=samples_per_old_class)]

default_hooks = dict(logger=dict(type='LoggerHook', interval=50),
                     checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1))
randomness = dict(seed=seed)
