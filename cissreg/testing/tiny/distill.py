"""configs/distill: tiny detection runs (tiny/_detection.py); a distiller's teacher is shrunk
the same way through ``teacher_cfg_options`` and gets a checkpoint built from its own config,
which the students that start from the teacher load too.

``check`` also asserts the recipe's composition (ported from the former
tests/test_configs/test_distill_configs.py): the student learns every class and the teacher
the first half, CWD comes first, CWD + KL weights of the ``cwd-kl`` configs, the backbone
freeze acts on the student.
"""
import hashlib
from pathlib import Path

import torch
from mmengine.config import Config

from cissreg.registry import MODELS

from . import _detection, _shared


def _tiny_teacher_ckpt(teacher_config: str, options: dict) -> tuple:
    """The teacher config shrunk like the tiny students, and a checkpoint built from it.

    Returns:
        tuple: (``teacher_cfg_options`` that shrink it, checkpoint path).
    """
    teacher_cfg = Config.fromfile(teacher_config)
    options = dict(options or {})
    teacher_cfg.merge_from_dict(options)
    options.update(_detection.shrink_network(teacher_cfg.model))
    key = repr((str(Path(teacher_config).resolve()), sorted(options.items())))

    def write(directory: Path) -> None:
        torch.manual_seed(0)
        model = MODELS.build(teacher_cfg.model)
        torch.save({'state_dict': model.state_dict()}, directory / 'teacher.pth')

    ckpt = _shared.shared_data('teacher_' + hashlib.sha1(key.encode()).hexdigest()[:10], write)
    return options, str(ckpt / 'teacher.pth')


def make_tiny(cfg, tmp_path: Path):
    """A distiller's teacher is shrunk through ``teacher_cfg_options`` and gets a checkpoint
    built from its own config; a student started from the teacher (``IncrementalPretrained``
    init) gets that checkpoint too."""
    model = cfg.model
    if 'teacher_config' in model:
        options, ckpt = _tiny_teacher_ckpt(model.teacher_config,
                                           model.get('teacher_cfg_options'))
        model.update(teacher_cfg_options=options, teacher_ckpt=ckpt)
    elif (model.get('init_cfg') or {}).get('type') == 'IncrementalPretrained':
        model.init_cfg.checkpoint = _tiny_teacher_ckpt(cfg.teacher_config, {})[1]
    return _detection.make_tiny(cfg, tmp_path)


def check(runner, cfg) -> None:
    _detection.check(runner, cfg)
    model = runner.model
    if type(model).__name__ != 'DetectionDistiller':
        return
    name = Path(cfg.filename).name
    teacher_classes = model.teacher.bbox_head.num_classes
    assert model.student.bbox_head.num_classes == 2 * teacher_classes
    terms = [t.name for t in model.terms]
    assert terms[0] == 'loss_cwd'
    if name.startswith('cwd-kl'):
        assert terms == ['loss_cwd', 'loss_kl_cls', 'loss_kl_box']
        # None: teacher class j is student class j (the teacher's classes come first)
        assert model.distill_losses['loss_kl_cls'].class_indexes in (
            None, list(range(teacher_classes)))
        weights = [1.0, 1.0, 1.0] if name.startswith('cwd-kl-w1') else [0.05, 0.001, 0.001]
        assert [model.distill_losses[n].loss_weight for n in terms] == weights
    elif name.startswith('cwd_'):
        assert terms == ['loss_cwd']
    elif name.startswith('cwd8-klcat'):  # the reference framework's terms
        assert terms == ['loss_cwd', 'loss_kl']
        assert type(model.distill_losses['loss_kl']).__name__ == 'HeadResponseKL'
    assert model.gt_loss_weight == 1.0
    freeze = [h for h in runner.hooks if type(h).__name__ == 'BackboneFreezeHook']
    assert all(h.module == 'student.backbone' for h in freeze) and freeze
