# YOLOv8-m on MAR20: the n recipe with ultralytics' m scale (deepen 0.67, widen 0.75, last stage 768).
_base_ = './yolov8_n_sgd-300e_mar20.py'

deepen_factor = 0.67
widen_factor = 0.75
last_stage_out_channels = 768

model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
                  last_stage_out_channels=last_stage_out_channels),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor,
              in_channels=[256, 512, last_stage_out_channels],
              out_channels=[256, 512, last_stage_out_channels]),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor,
                                    in_channels=[256, 512, last_stage_out_channels])))
