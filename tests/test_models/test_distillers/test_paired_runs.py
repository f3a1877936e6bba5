"""At one seed, the student starts from the same weights and sees the same batches with and
without distillation (paired runs), and the few-shot recipe starts it from the teacher."""
from pathlib import Path

import torch
from mmengine.config import Config

from cissreg.registry import MODELS, RUNNERS

REPO = Path(__file__).resolve().parents[3]
DISTILL = REPO / 'configs' / 'distill'
CLS_KEY = 'bbox_head.head_module.cls_preds.0.2.weight'

TINY = """
small = dict(data_root={data_root!r}, img_size=64, num_train=12, num_val=2,
             object_size=(12, 40), num_objects=(1, 3))
pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadDetAnnotations'),
            dict(type='LetterResize', scale=(64, 64)), dict(type='RandomFlip', prob=0.5),
            dict(type='PackDetInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(shots=2, dataset=dict(pipeline=pipeline, **small)))
val_dataloader = test_dataloader = dict(num_workers=0, persistent_workers=False,
                                        dataset=dict(pipeline=pipeline, **small))
"""


def _runner(tmp_path: Path, config: str, name: str, teacher_ckpt: str, seed: int = 7):
    path = tmp_path / f'{name}.py'
    path.write_text(f'_base_ = {str(DISTILL / config)!r}\n'
                    + TINY.format(data_root=str(tmp_path / 'shapes')))
    cfg = Config.fromfile(str(path))
    if cfg.model.type == 'DetectionDistiller':
        cfg.model.teacher_ckpt = teacher_ckpt
    else:
        cfg.model.init_cfg.checkpoint = teacher_ckpt
    cfg.update(work_dir=str(tmp_path / name), experiment_name=name,
               randomness=dict(seed=seed))
    cfg.visualizer.name = name
    runner = RUNNERS.build(cfg)  # seeds the RNGs, builds the model
    runner._init_model_weights()  # what runner.train() does first
    return runner


def _first_batches(runner, num: int = 3) -> list:
    names = []
    for i, batch in enumerate(runner.train_dataloader):
        if i == num:
            break
        names.append([Path(s.img_path).name for s in batch['data_samples']])
    return names


def test_student_init_and_data_order_match_without_distillation(tmp_path):
    teacher_cfg = Config.fromfile(str(DISTILL / 'yolov8_n_teacher-first-half_shapes.py'))
    torch.manual_seed(123)
    teacher = MODELS.build(teacher_cfg.model)
    teacher.init_weights()
    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, ckpt)

    plain = _runner(tmp_path, 'yolov8_n_no-kd_shapes.py', 'plain', str(ckpt))
    kd = _runner(tmp_path, 'cwd-kl_yolov8_n_shapes.py', 'kd', str(ckpt))
    ours, theirs = plain.model.state_dict(), kd.model.student.state_dict()
    assert set(ours) == set(theirs)
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key
    # started from the teacher: its class rows copied, the 3 new rows fresh (not zero)
    assert torch.equal(ours[CLS_KEY][:3], teacher.state_dict()[CLS_KEY])
    assert ours[CLS_KEY][3:].abs().sum() > 0
    assert torch.equal(ours['backbone.stem.conv.weight'],
                       teacher.state_dict()['backbone.stem.conv.weight'])
    # the fresh rows come from the random seed: another seed, other rows
    other = _runner(tmp_path, 'yolov8_n_no-kd_shapes.py', 'other', str(ckpt), seed=8)
    assert not torch.equal(other.model.state_dict()[CLS_KEY][3:], ours[CLS_KEY][3:])

    assert _first_batches(plain) == _first_batches(kd)
    assert len(plain.train_dataloader.dataset) < 12  # the few-shot subset
