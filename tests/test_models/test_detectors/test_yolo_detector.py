"""YOLODetector end to end on a tiny YOLOv8-n with 64 px inputs."""
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper
from mmengine.structures import InstanceData

from cissreg.models.base_model import FiniteLossModel
from cissreg.registry import MODELS
from cissreg.structures.det_data_sample import DetDataSample

D, W = 0.33, 0.25  # yolov8n


def tiny_yolov8n(num_classes: int = 4, **kwargs):
    return MODELS.build(dict(
        type='YOLODetector',
        backbone=dict(type='YOLOv8CSPDarknet', deepen_factor=D, widen_factor=W,
                      last_stage_out_channels=1024),
        neck=dict(type='YOLOv8PAFPN', in_channels=[256, 512, 1024],
                  out_channels=[256, 512, 1024], deepen_factor=D, widen_factor=W),
        bbox_head=dict(type='YOLOv8Head',
                       head_module=dict(type='YOLOv8HeadModule', num_classes=num_classes,
                                        in_channels=[256, 512, 1024], widen_factor=W)),
        **kwargs))


def batch(num_boxes=(2, 0)):
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for n in num_boxes:
        inputs.append(torch.randint(0, 256, (3, 64, 64), generator=gen, dtype=torch.uint8))
        sample = DetDataSample(metainfo=dict(
            img_path=f'img{len(samples)}.jpg', ori_shape=(128, 120), img_shape=(64, 60),
            scale_factor=(0.5, 0.5), pad_param=np.array([0, 0, 2, 2], dtype=np.float32)))
        xy = torch.rand(n, 2, generator=gen) * 30
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + 20], 1),
                                           labels=torch.randint(0, 4, (n, ), generator=gen))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.fixture(autouse=True)
def quiet_init_logs():
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_structure_and_config_routing():
    model = tiny_yolov8n(test_cfg=dict(score_thr=0.2, max_per_img=5),
                         train_cfg=dict(assigner=dict(type='TaskAlignedAssigner', topk=13)))
    assert isinstance(model, FiniteLossModel)
    assert type(model.data_preprocessor).__name__ == 'YOLODetDataPreprocessor'
    names = {n.split('.')[0] for n, _ in model.named_parameters()}
    assert names == {'backbone', 'neck', 'bbox_head'}
    assert any(n.startswith('bbox_head.head_module.') for n, _ in model.named_parameters())
    assert model.bbox_head.test_cfg == dict(score_thr=0.2, max_per_img=5)
    assert model.bbox_head.assigner.topk == 13 and model.bbox_head.assigner.num_classes == 4


def test_loss_tensor_and_predict_modes():
    torch.manual_seed(0)
    model = tiny_yolov8n()
    model.init_weights()
    data = model.data_preprocessor(batch(), True)
    assert data['inputs'].shape == (2, 3, 64, 64)

    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())

    cls_scores, dists = model(data['inputs'], mode='tensor')
    assert [tuple(c.shape) for c in cls_scores] == [(2, 4, 8, 8), (2, 4, 4, 4), (2, 4, 2, 2)]
    assert [tuple(d.shape) for d in dists] == [(2, 64, 8, 8), (2, 64, 4, 4), (2, 64, 2, 2)]

    model.eval()
    with torch.no_grad():
        samples = model(**data, mode='predict')
    assert samples is data['data_samples']
    for sample in samples:
        pred = sample.pred_instances
        assert pred.bboxes.shape[1] == 4 and len(pred) <= 300
        assert (pred.bboxes[:, 0::2] <= 120).all() and (pred.bboxes[:, 1::2] <= 128).all()
    with pytest.raises(ValueError, match="mode must be 'loss', 'predict' or 'tensor'"):
        model(data['inputs'], mode='logits')


def test_train_step_updates_weights_and_handles_empty_batch():
    torch.manual_seed(0)
    model = tiny_yolov8n()
    model.init_weights()
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    cls_bias = model.bbox_head.head_module.cls_preds[0][2].bias.detach().clone()
    log_vars = model.train_step(batch((0, 0)), optim)  # no GT anywhere
    assert log_vars['loss_bbox'] == 0 and log_vars['loss_dfl'] == 0 and log_vars['loss'] > 0
    assert not torch.equal(model.bbox_head.head_module.cls_preds[0][2].bias, cls_bias)
    log_vars = model.train_step(batch((3, 1)), optim)
    assert all(torch.isfinite(v) for v in log_vars.values()) and log_vars['loss_bbox'] > 0
