# YOLOv8-x on MAR20: the n recipe with ultralytics' x scale (deepen 1.0, widen 1.25, last stage 512).
_base_ = './yolov8_n_sgd-300e_mar20.py'

deepen_factor = 1.0
widen_factor = 1.25
last_stage_out_channels = 512

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
                  last_stage_out_channels=last_stage_out_channels),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
              in_channels=[256, 512, last_stage_out_channels],
              out_channels=[256, 512, last_stage_out_channels]),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor,
                                    in_channels=[256, 512, last_stage_out_channels])))
