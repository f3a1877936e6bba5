"""Tiny YOLOv8 teacher / student parts shared by the distillation tests."""
import copy
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

from cissreg.models.distillers import DetectionDistiller
from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample

REPO = Path(__file__).resolve().parents[2]
BASE_MODEL = Config.fromfile(REPO / 'configs' / '_base_' / 'models' / 'yolov8_n.py').model


def detector_cfg(num_classes: int, widen: float = 0.125) -> dict:
    cfg = copy.deepcopy(BASE_MODEL.to_dict())
    cfg['bbox_head']['head_module']['num_classes'] = num_classes
    for part in (cfg['backbone'], cfg['neck'], cfg['bbox_head']['head_module']):
        part['widen_factor'] = widen
    return cfg


def write_teacher(directory: Path, num_classes: int = 3, widen: float = 0.125,
                  ckpt_classes: int = None, ckpt_widen: float = None) -> tuple:
    """A teacher config and a checkpoint (of the same or another model) with trained BN stats."""
    torch.manual_seed(1)
    model = MODELS.build(detector_cfg(ckpt_classes or num_classes, ckpt_widen or widen))
    for name, buffer in model.named_buffers():  # BN statistics away from their initial values
        if name.endswith(('running_mean', 'running_var')):
            buffer.uniform_(0.5, 1.5)
    config = directory / f'teacher_{num_classes}_{widen}.py'
    Config(dict(model=detector_cfg(num_classes, widen))).dump(str(config))
    ckpt = directory / f'teacher_{ckpt_classes}_{ckpt_widen}.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': dict(epoch=1)}, ckpt)
    return str(config), str(ckpt), model.state_dict()


def build(teacher, widen: float = 0.125, **kwargs) -> DetectionDistiller:
    """A 6-class student (as wide as the teacher by default) distilled from ``teacher``."""
    config, ckpt, _ = teacher
    torch.manual_seed(0)
    cfg = dict(type='DetectionDistiller', student=detector_cfg(6, widen),
               teacher_config=config, teacher_ckpt=ckpt)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def samples(num: int = 2, size: int = 64) -> list:
    out = []
    for i in range(num):
        s = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0),
            pad_param=np.zeros(4, np.float32), batch_input_shape=(size, size)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 30.0, 40.0 + i]]),
                                      labels=torch.tensor([4 - i]))
        out.append(s)
    return out
