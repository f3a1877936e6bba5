# DKD-M on ADE20K 100-50: 300 class-balanced exemplars.
_base_ = './dkd_r101_ade_100-50.py'
default_hooks = dict(memory=dict(type='ExemplarMemoryHook', mem_size=300))
