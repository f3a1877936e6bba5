"""Every shipped configs/distill config builds; distillers against a teacher checkpoint made
from their own teacher config."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from cissreg.models.distillers import DetectionDistiller
from cissreg.registry import MODELS

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'distill').glob('*.py'))


def test_the_recipe_is_complete():
    names = {p.name for p in CONFIGS}
    for dataset in ('shapes', 'sgd-300e_mar20'):
        teacher = [n for n in names if n.startswith('yolov8_n_teacher') and dataset in n]
        assert len(teacher) == 1, (dataset, names)
        for method in ('cwd-kl_yolov8_n_', 'cwd_yolov8_n_', 'yolov8_n_no-kd_'):
            assert f'{method}{dataset}.py' in names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds(path, tmp_path):
    cfg = Config.fromfile(str(path))
    model_cfg = cfg.model
    if model_cfg.type != 'DetectionDistiller':
        model = MODELS.build(model_cfg)
        num_classes = model.bbox_head.num_classes
        subset = cfg.train_dataloader.dataset.get('classes')
        assert num_classes == (len(subset) if subset else 6 if 'shapes' in path.name else 20)
        return
    teacher_cfg = Config.fromfile(model_cfg.teacher_config)  # a plain path next to the config
    assert Path(model_cfg.teacher_config).parent == path.parent
    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': MODELS.build(teacher_cfg.model).state_dict()}, ckpt)
    model_cfg.teacher_ckpt = str(ckpt)
    distiller = MODELS.build(model_cfg)
    assert isinstance(distiller, DetectionDistiller)
    # the student learns every class, the teacher the first half of them
    teacher_classes = distiller.teacher.bbox_head.num_classes
    assert distiller.student.bbox_head.num_classes == 2 * teacher_classes
    assert [t.name for t in distiller.terms][0] == 'loss_cwd'
    if path.name.startswith('cwd-kl'):
        assert [t.name for t in distiller.terms] == ['loss_cwd', 'loss_kl_cls', 'loss_kl_box']
        kl_cls = distiller.distill_losses['loss_kl_cls']
        assert kl_cls.class_indexes == list(range(teacher_classes))
        assert [distiller.distill_losses[n].loss_weight for n in
                ('loss_cwd', 'loss_kl_cls', 'loss_kl_box')] == [0.05, 0.001, 0.001]
    else:
        assert [t.name for t in distiller.terms] == ['loss_cwd']
    assert distiller.gt_loss_weight == 1.0
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['BackboneFreezeHook']['module'] == 'student.backbone'
