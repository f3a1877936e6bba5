# YOLOv8-n (deepen 0.33, widen 0.25, last stage 1024): the same network as ultralytics
# yolov8n.yaml. Children set `num_classes` in one place, model.bbox_head.head_module.num_classes:
# the head gives it to the assigner (which therefore names none here).
deepen_factor = 0.33
widen_factor = 0.25
last_stage_out_channels = 1024
num_classes = 80
strides = [8, 16, 32]
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
act_cfg = dict(type='SiLU', inplace=True)

model = dict(
    type='YOLODetector',
    data_preprocessor=dict(
        type='YOLODetDataPreprocessor',
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='YOLOv8CSPDarknet',
        arch='P5',
        last_stage_out_channels=last_stage_out_channels,
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    neck=dict(
        type='YOLOv8PAFPN',
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        in_channels=[256, 512, last_stage_out_channels],
        out_channels=[256, 512, last_stage_out_channels],
        num_csp_blocks=3,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='YOLOv8Head',
        head_module=dict(
            type='YOLOv8HeadModule',
            num_classes=num_classes,
            in_channels=[256, 512, last_stage_out_channels],
            widen_factor=widen_factor,
            reg_max=16,
            featmap_strides=strides,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg),
        loss_cls=dict(type='BCEWithLogitsLoss', reduction='mean', loss_weight=0.5),
        loss_bbox=dict(type='IoULoss', iou_mode='ciou', reduction='mean', loss_weight=7.5),
        loss_dfl=dict(type='DistributionFocalLoss', reduction='mean', loss_weight=1.5)),
    train_cfg=dict(
        assigner=dict(
            type='TaskAlignedAssigner', topk=10, alpha=0.5, beta=6.0, eps=1e-9)),
    test_cfg=dict(
        multi_label=True,
        nms_pre=30000,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300))

# ultralytics' scales (deepen, widen, last stage channels); a size child config merges one:
# `model = _base_.model_scales['m']`.
scale_args = dict(n=(0.33, 0.25, 1024), s=(0.33, 0.5, 1024), m=(0.67, 0.75, 768),
                  l=(1.0, 1.0, 512), x=(1.0, 1.25, 512))


def _scale(deepen, widen, last):
    return dict(backbone=dict(deepen_factor=deepen, widen_factor=widen,
                              last_stage_out_channels=last),
                neck=dict(deepen_factor=deepen, widen_factor=widen,
                          in_channels=[256, 512, last], out_channels=[256, 512, last]),
                bbox_head=dict(head_module=dict(widen_factor=widen, in_channels=[256, 512, last])))


model_scales = {k: _scale(*v) for k, v in scale_args.items()}
