"""IncrementalPretrained: a detector of more classes starts from a checkpoint of fewer."""
import pytest
import torch
from mmengine.registry import DefaultScope

from cissreg.models.distillers import expand_class_rows
from cissreg.registry import MODELS
from cissreg.testing.distill_parts import detector_cfg

CLS = 'bbox_head.head_module.cls_preds.{}.2.{}'


def _build(num_classes: int, seed: int, **init):
    cfg = detector_cfg(num_classes)
    if init:
        cfg['init_cfg'] = dict(type='IncrementalPretrained', **init)
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    with DefaultScope.overwrite_default_scope('cissreg'):
        model.init_weights()
    return model


@pytest.mark.parametrize('class_indexes', [None, [4, 0, 2]])
def test_class_rows_copied_new_rows_fresh(tmp_path, class_indexes):
    old = _build(3, seed=1).state_dict()
    torch.save({'state_dict': old}, tmp_path / 'old.pth')
    fresh = _build(6, seed=0).state_dict()
    model = _build(6, seed=0, checkpoint=str(tmp_path / 'old.pth'), class_indexes=class_indexes)
    rows = class_indexes or [0, 1, 2]
    new_rows = [r for r in range(6) if r not in rows]
    for key, value in model.state_dict().items():
        if key.startswith('bbox_head.head_module.cls_preds') and key.split('.')[-2] == '2':
            assert torch.equal(value[rows], old[key]), key
            # the new classes' rows: the fresh init of the same model at the same seed
            assert torch.equal(value[new_rows], fresh[key][new_rows]), key
        else:
            assert torch.equal(value, old[key]), key


def test_mismatches_name_the_key(tmp_path):
    own = _build(6, seed=0).state_dict()
    other = _build(3, seed=1).state_dict()
    bad = dict(other)
    bad['neck.downsample_layers.0.conv.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r'neck\.downsample_layers\.0\.conv\.weight has shape'):
        expand_class_rows(own, bad)
    with pytest.raises(KeyError, match=r"missing \['backbone\.stem"):
        expand_class_rows(own, {k: v for k, v in other.items() if 'backbone.stem' not in k})
    with pytest.raises(ValueError, match='class_indexes'):
        expand_class_rows(own, other, class_indexes=[0, 1, 6])
    with pytest.raises(FileNotFoundError, match='init_cfg.checkpoint'):
        _build(6, seed=0, checkpoint=str(tmp_path / 'absent.pth'))
