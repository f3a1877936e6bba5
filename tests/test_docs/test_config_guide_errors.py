"""The error messages quoted in docs/en/user_guides/config.md are the ones the code raises."""
from pathlib import Path

import pytest
from mmengine.config import Config

from cissreg.registry import DATASETS, MODELS

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = (REPO_ROOT / 'docs' / 'en' / 'user_guides' / 'config.md').read_text(encoding='utf-8')


def shapes_head_cfg(**changes) -> dict:
    cfg = Config.fromfile(str(REPO_ROOT / 'configs' / 'yolov8' / 'yolov8_n_shapes.py'))
    model = cfg.model.to_dict()
    model['bbox_head'].update(changes)
    return model


@pytest.mark.parametrize('changes', [dict(type='YOLOv8Heed'), dict(foo=1)],
                         ids=['unknown type', 'unexpected key'])
def test_quoted_build_errors_are_the_real_ones(changes, cissreg_scope):
    with pytest.raises(Exception) as info:
        MODELS.build(shapes_head_cfg(**changes))
    first_line = f'{type(info.value).__name__}: {info.value}'.splitlines()[0]
    assert f'`{first_line}`' in GUIDE


def test_quoted_missing_data_root_error_is_the_real_one(cissreg_scope):
    with pytest.raises(FileNotFoundError) as info:
        DATASETS.build(dict(type='VOCDetDataset', data_root='data/no_such_dir',
                            ann_file='ImageSets/Main/train.txt',
                            data_prefix=dict(img='JPEGImages'), metainfo=dict(classes=('a', ))))
    assert f'``FileNotFoundError: {info.value}``' in GUIDE
