"""ultralytics2cissreg: key mapping, CLI, and output parity with the real ultralytics package."""
import copy
import importlib.util
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from cissreg.registry import MODELS
from cissreg.testing.reference import require

ROOT = Path(__file__).resolve().parents[2]
CONVERTER_PATH = ROOT / 'tools' / 'model_converters' / 'ultralytics2cissreg.py'
# size: (deepen, widen, last stage channels), as in ultralytics yolov8.yaml
SIZES = {'n': (0.33, 0.25, 1024), 's': (0.33, 0.50, 1024), 'm': (0.67, 0.75, 768),
         'l': (1.00, 1.00, 512), 'x': (1.00, 1.25, 512)}


def _load_converter():
    spec = importlib.util.spec_from_file_location('ultralytics2cissreg', CONVERTER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


u2c = _load_converter()


def _Detector(size: str, num_classes: int) -> nn.Module:
    """The real ``YOLODetector`` of the given size; ``forward(x)`` (tensor mode) returns
    ``(cls_scores, bbox_dist_preds)``."""
    deepen, widen, last = SIZES[size]
    return MODELS.build(dict(
        type='YOLODetector',
        backbone=dict(type='YOLOv8CSPDarknet', deepen_factor=deepen, widen_factor=widen,
                      last_stage_out_channels=last),
        neck=dict(type='YOLOv8PAFPN', deepen_factor=deepen, widen_factor=widen,
                  in_channels=[256, 512, last], out_channels=[256, 512, last]),
        bbox_head=dict(type='YOLOv8Head', head_module=dict(
            type='YOLOv8HeadModule', num_classes=num_classes, widen_factor=widen,
            in_channels=[256, 512, last]))))


@pytest.fixture(scope='module')
def ultralytics_tasks():
    tasks = require('ultralytics.nn.tasks')
    from ultralytics.utils import LOGGER
    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)  # no "Overriding model.yaml nc=..." chatter
    yield tasks
    LOGGER.setLevel(level)


def _random_ultralytics_model(tasks, size: str, num_classes: int, seed: int = 0) -> nn.Module:
    """A DetectionModel whose BN statistics and head biases are random too."""
    torch.manual_seed(seed)
    model = tasks.DetectionModel(f'yolov8{size}.yaml', nc=num_classes, verbose=False)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
        for branch in list(model.model[-1].cv2) + list(model.model[-1].cv3):
            branch[-1].bias.uniform_(-2.0, 2.0)
    return model.eval()


def _meta_ultralytics_state_dict(tasks, cfg: str, num_classes: int) -> dict:
    """State dict of ``cfg`` built on the meta device (shapes only, no forward pass)."""
    yaml = tasks.yaml_model_load(cfg)
    yaml['nc'] = num_classes
    with torch.device('meta'):
        layers, _ = tasks.parse_model(copy.deepcopy(yaml), ch=3, verbose=False)
    return {f'model.{k}': v for k, v in layers.state_dict().items()}


@pytest.mark.parametrize('size', ['n', 's'])
@pytest.mark.parametrize('num_classes', [1, 3, 20, 80])
def test_converted_outputs_equal_ultralytics(ultralytics_tasks, size, num_classes):
    ref = _random_ultralytics_model(ultralytics_tasks, size, num_classes)
    ours = _Detector(size, num_classes)
    ours.load_state_dict(u2c.convert(ref.state_dict()), strict=True)
    ours.eval()
    assert (sum(p.numel() for p in ours.parameters())
            == sum(p.numel() for p in ref.parameters()) - ref.model[-1].dfl.conv.weight.numel())
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        _, ref_levels = ref(x)  # eval-mode Detect returns (decoded, raw per-level maps)
        cls_scores, bbox_dist_preds = ours(x)
    assert len(ref_levels) == 3
    for ref_level, dist, cls in zip(ref_levels, bbox_dist_preds, cls_scores):
        ours_level = torch.cat([dist, cls], 1)
        assert ours_level.shape == ref_level.shape
        assert (ours_level - ref_level).abs().max() <= 1e-4
    assert ref_levels[0].std() > 0.1  # the comparison is not between near-constant maps


@pytest.mark.parametrize('size', ['n', 's', 'm', 'l', 'x'])
def test_every_size_maps_onto_cissreg_keys_and_shapes(ultralytics_tasks, size):
    src = _meta_ultralytics_state_dict(ultralytics_tasks, f'yolov8{size}.yaml', 5)
    converted = u2c.convert(src)
    with torch.device('meta'):
        ours = _Detector(size, 5).state_dict()
    assert set(converted) == set(ours)
    assert all(converted[k].shape == ours[k].shape for k in ours)
    assert u2c.DFL_KEY in src and len(converted) == len(src) - 1


def test_names_are_mmyolo_style(ultralytics_tasks):
    converted = u2c.convert(_meta_ultralytics_state_dict(ultralytics_tasks, 'yolov8n.yaml', 2))
    for key in ('backbone.stem.conv.weight', 'backbone.stage1.1.blocks.0.conv1.bn.running_var',
                'backbone.stage4.2.conv2.conv.weight',
                'neck.top_down_layers.1.main_conv.conv.weight',
                'neck.downsample_layers.0.bn.num_batches_tracked',
                'bbox_head.head_module.reg_preds.0.0.conv.weight',
                'bbox_head.head_module.cls_preds.2.2.bias'):
        assert key in converted, key


def test_half_precision_becomes_float32(ultralytics_tasks):
    src = _random_ultralytics_model(ultralytics_tasks, 'n', 2).half().state_dict()
    converted = u2c.convert(src)
    assert converted['backbone.stem.conv.weight'].dtype == torch.float32
    assert converted['backbone.stem.bn.num_batches_tracked'].dtype == torch.int64
    torch.testing.assert_close(converted['backbone.stem.conv.weight'],
                               src['model.0.conv.weight'].float())


def test_wrong_state_dicts_name_the_keys(ultralytics_tasks):
    src = _meta_ultralytics_state_dict(ultralytics_tasks, 'yolov8n.yaml', 2)
    missing = dict(src)
    del missing['model.4.m.1.cv2.bn.running_var']
    with pytest.raises(ValueError,
                       match=r'missing keys \(1\): model\.4\.m\.1\.cv2\.bn\.running_var'):
        u2c.convert(missing)
    extra = dict(src, **{'model.23.cv2.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r'unexpected keys \(1\): model\.23\.cv2\.weight'):
        u2c.convert(extra)
    with pytest.raises(ValueError, match='not an ultralytics YOLOv8'):
        u2c.convert(_meta_ultralytics_state_dict(ultralytics_tasks, 'yolo11n.yaml', 2))


def test_cli_converts_plain_state_dict(ultralytics_tasks, tmp_path):
    ref = _random_ultralytics_model(ultralytics_tasks, 'n', 3)
    src, dst = tmp_path / 'yolov8n_sd.pth', tmp_path / 'out' / 'cissreg.pth'
    torch.save(ref.state_dict(), src)
    proc = subprocess.run([sys.executable, str(CONVERTER_PATH), str(src), str(dst)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert out['meta'] == dict(converter='ultralytics2cissreg', source='yolov8n_sd.pth',
                               num_classes=3, reg_max=16)
    expected = u2c.convert(ref.state_dict())
    assert set(out['state_dict']) == set(expected)
    for key, value in expected.items():
        assert torch.equal(out['state_dict'][key], value), key
    assert list(tmp_path.joinpath('out').iterdir()) == [dst]  # no temp file left behind


@pytest.mark.parametrize('slot', ['model', 'ema'])
def test_cli_pickled_checkpoint_needs_trust_pickle(ultralytics_tasks, tmp_path, capsys, slot):
    ref = _random_ultralytics_model(ultralytics_tasks, 'n', 2)
    ref.names = {0: 'plane', 1: 'ship'}
    src, dst = tmp_path / 'yolov8n.pt', tmp_path / 'converted.pth'
    other = 'ema' if slot == 'model' else 'model'
    torch.save({slot: copy.deepcopy(ref).half(), other: None, 'version': '8.3.40'}, src)

    assert u2c.main([str(src), str(dst)]) == 1
    assert '--trust-pickle' in capsys.readouterr().err
    assert not dst.exists()

    assert u2c.main([str(src), str(dst), '--trust-pickle']) == 0
    out = torch.load(dst, map_location='cpu', weights_only=True)
    assert out['meta']['class_names'] == ['plane', 'ship']
    assert out['meta']['ultralytics_version'] == '8.3.40'
    expected = u2c.convert(copy.deepcopy(ref).half().float().state_dict())
    for key, value in expected.items():
        assert torch.equal(out['state_dict'][key], value), key


def test_cli_rejects_non_state_dict(tmp_path, capsys):
    src = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], src)
    assert u2c.main([str(src), str(tmp_path / 'out.pth')]) == 1
    assert 'expected a state dict' in capsys.readouterr().err
    torch.save({'model': {'epoch': 3}}, src)
    assert u2c.main([str(src), str(tmp_path / 'out.pth')]) == 1
    assert 'these entries are not tensors: model' in capsys.readouterr().err
