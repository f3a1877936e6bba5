# Joint-training upper bound: all 6 classes in one step, about as many iterations as the 4-1
# run (180 epochs x 15 = 2700; the 4-1 run: 30 x 12 + 300 x 3 + 300 x 4 = 2460).
_base_ = './dkd_r18_shapes_4-1.py'
model = dict(task_sizes=[6])
train_cfg = dict(stages=dict(step=dict(max_epochs=180, init_max_epochs=180)))
