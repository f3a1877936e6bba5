# DKD on Pascal VOC 2012 15-5 overlap (two steps).
_base_ = './dkd_r101_voc_15-1.py'
model = dict(task_sizes=[15, 5])
