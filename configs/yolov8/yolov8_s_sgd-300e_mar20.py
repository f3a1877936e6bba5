# YOLOv8-s on MAR20: the n recipe with ultralytics' s scale (deepen 0.33, widen 0.5, last stage 1024).
_base_ = './yolov8_n_sgd-300e_mar20.py'

deepen_factor = 0.33
widen_factor = 0.5
last_stage_out_channels = 1024

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
                  last_stage_out_channels=last_stage_out_channels),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
              in_channels=[256, 512, last_stage_out_channels],
              out_channels=[256, 512, last_stage_out_channels]),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor,
                                    in_channels=[256, 512, last_stage_out_channels])))
