# Joint-training upper bound: all 6 classes in one step, as many epochs as the 4-1 run
# (30 + 60 + 60).
_base_ = './dkd_r18_shapes_4-1.py'
model = dict(task_sizes=[6])
train_cfg = dict(stages=dict(step=dict(max_epochs=150, init_max_epochs=150)))
