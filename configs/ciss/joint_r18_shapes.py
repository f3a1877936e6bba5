# Joint-training upper bound: all 6 classes in one step, as many iterations as the 4-1 run
# (234 epochs x 15 = 3510; the 4-1 run: 30 x 12 + 450 x 3 + 450 x 4 = 3510).
_base_ = './dkd_r18_shapes_4-1.py'
model = dict(task_sizes=[6])
train_cfg = dict(stages=dict(step=dict(max_epochs=234, init_max_epochs=234)))
