# DKD on Pascal VOC 2012 15-5 overlap (two steps).
_base_ = './dkd_r101_voc_15-1.py'
task, task_sizes = '15-5', [15, 5]
model = dict(task_sizes=task_sizes)
train_cfg = dict(task_split=dict(task=task))
