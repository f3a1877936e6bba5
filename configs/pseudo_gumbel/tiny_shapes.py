# Pseudo-Gumbel self-training on a procedural referring task with a tiny, randomly initialised
# region MLLM: a supervised caption + mask warm-up stage, then Pseudo-Gumbel training (the
# EMA teacher captions region 1, the student segments the same object in scene 2 through the
# straight-through Gumbel embeddings of its own caption logits). Each scene holds the target
# among distractors that differ from it in one attribute (colour, shape, size or side), so
# only the caption singles it out. CPU, no download.
_base_ = ['../_base_/models/pseudo_gumbel_tiny.py', '../_base_/default_runtime.py']

# ---- frequently changed ----
data_root = 'data/referring_pairs'
num_train_pairs = 1000
num_val_pairs = 100          # settings are chosen on val
num_test_pairs = 200         # results are reported on test (other scenes)
# training distractors that differ from the target in one attribute only (the rest random:
# a caption word then already rules out most objects, a learnable start); val: all of them
train_hard_fraction = 0.5
img_size = 64
max_caption_len = 8         # teacher caption tokens T (64 in the 4B config)
warmup_epochs = 12          # stage 1: supervised captions + masks
pseudo_gumbel_epochs = 4    # stage 2: the six Pseudo-Gumbel steps
stage2_mode = 'pseudo_gumbel'   # 'hard_ids' cuts the Gumbel path (teacher ids fed as hard ids)
batch_size = 16
lr = 1e-3
stage2_lr_factor = 0.1      # stage 2 trains at lr * this (lr 1e-3 there collapses the captioner)
ema_momentum = 0.999        # EMA teacher of stage 2 (0.99 follows the drifting student too fast)
ema_warmup_iters = 20
vocabulary = ['the', 'on', 'describe', 'this', 'region', 'please', 'segment', 'it', 'is',
              'red', 'green', 'blue', 'yellow', 'circle', 'square', 'triangle',
              'small', 'large', 'left', 'right']
# the segmentation prompt after the image block: one [SEG] right after the text; the
# reference recipe's chat turn in this vocabulary is 'please segment {text} [SEG] it is [SEG]'
segment_template = 'please segment {text} [SEG]'
# the image block in the segmentation prompt (True: the reference's layout); False: [SEG]
# depends on the caption alone and the mask decoder grounds it in its own image features
segment_image_tokens = False

tokenizer = dict(path=data_root + '/tokenizer', words=vocabulary)
model = dict(
    mllm=dict(tokenizer=tokenizer, vision_encoder=dict(config=dict(image_size=img_size)),
              segment_template=segment_template, segment_image_tokens=segment_image_tokens),
    max_caption_len=max_caption_len,
    train_mode='supervised')

pipeline = [
    dict(type='LoadRegionPair'),
    dict(type='ResizeRegionPair', size=img_size),
    dict(type='TokenizeCaption', tokenizer=tokenizer, max_len=max_caption_len),
    dict(type='PackRegionPair')
]
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='RegionPairDataset', data_root=data_root, split='train',
                 num_pairs=num_train_pairs, img_size=img_size, hard_fraction=train_hard_fraction,
                 pipeline=pipeline))
val_dataloader = dict(
    train_dataloader, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(train_dataloader['dataset'], split='val', num_pairs=num_val_pairs,
                 hard_fraction=1.0, test_mode=True))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], split='test', num_pairs=num_test_pairs))
val_evaluator = dict(type='RISMetric')  # + mIoU with shuffled / swapped captions (hook)
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=warmup_epochs + pseudo_gumbel_epochs,
                 val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# trainable parameters only: LM, projector, grounding encoder, decoder, text_hidden_fcs
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='TrainableParamsOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    # stage 2 starts at lr * stage2_lr_factor
    dict(type='MultiStepLR', by_epoch=True, milestones=[warmup_epochs], gamma=stage2_lr_factor,
         end=warmup_epochs + pseudo_gumbel_epochs)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='AtomicCheckpointHook', interval=1, max_keep_ckpts=1, save_last=True),
    # stage switch: supervised warm-up -> stage2_mode; the teacher starts as the student
    train_mode=dict(type='TrainModeSwitchHook', switch_epoch=warmup_epochs,
                    before='supervised', after=stage2_mode, sync_teacher=True),
    ema_teacher=dict(type='EMATeacherHook', momentum=ema_momentum,
                     warmup_iters=ema_warmup_iters, begin_epoch=warmup_epochs))
custom_hooks = [dict(type='TextSensitivityHook', modes=('shuffled', 'swapped'))]
