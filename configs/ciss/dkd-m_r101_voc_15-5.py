# DKD-M on VOC 15-5.
_base_ = './dkd_r101_voc_15-5.py'
default_hooks = dict(memory=dict(type='ExemplarMemoryHook', mem_size=100))
