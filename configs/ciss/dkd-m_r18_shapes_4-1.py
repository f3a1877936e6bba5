# DKD-M on the embedded shapes data: DKD with 20 class-balanced exemplars replayed in every
# later step.
_base_ = './dkd_r18_shapes_4-1.py'
default_hooks = dict(memory=dict(type='ExemplarMemoryHook', mem_size=20))
