# DKD-M: DKD with 100 class-balanced exemplars replayed in every later step.
_base_ = './dkd_r101_voc_15-1.py'
default_hooks = dict(memory=dict(type='ExemplarMemoryHook', mem_size=100))
