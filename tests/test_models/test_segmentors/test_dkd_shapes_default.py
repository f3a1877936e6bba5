"""Behavioural test on a smaller version of the CISS default: the KD terms keep the old classes.

``configs/ciss/dkd_r18_shapes_4-1.py`` and its fine-tuning child through ``tools/train.py``, on
the same procedural shapes data (generated into a temp folder), shortened to two steps
(``5-1``: classes 1-5, then 6) and 20 + 30 epochs. Removing the KD terms (the fine-tuning
config) must leave the old-class mIoU after step 1 at least 10 points below DKD's. Mutation
check: the DKD run with ``model.loss_kd=None model.loss_dkd=None`` fails the assertion.
"""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _old_miou_per_step(config: str, tmp_path: Path, name: str) -> tuple:
    """Old-class mIoU after step 1 and after step 0 of the shortened default."""
    work_dir = tmp_path / name
    data = tmp_path / 'shapes_seg'
    options = [
        'model.task_sizes=[5,1]', 'train_cfg.task_split.task=5-1',
        f'train_cfg.task_split.cache_dir={tmp_path / "splits"}',
        'train_cfg.stages.step.init_max_epochs=20', 'train_cfg.stages.step.max_epochs=30',
        f'train_dataloader.dataset.data_root={data}', f'val_dataloader.dataset.data_root={data}',
        f'test_dataloader.dataset.data_root={data}', 'default_hooks.logger.interval=50']
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(REPO / 'configs' / 'ciss' / config),
         '--work-dir', str(work_dir), '--cfg-options', *options],
        cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = json.loads((work_dir / 'incremental_results.json').read_text())['tasks']
    assert [t['task'] for t in tasks] == [0, 1]
    return tasks[1]['metrics']['ciss/mIoU_old'], tasks[0]['metrics']['ciss/mIoU_old']


def test_kd_terms_keep_the_old_classes_of_the_shapes_default(tmp_path):
    dkd, dkd_base = _old_miou_per_step('dkd_r18_shapes_4-1.py', tmp_path, 'dkd')
    finetune, ft_base = _old_miou_per_step('finetune_r18_shapes_4-1.py', tmp_path, 'ft')
    assert dkd_base == ft_base > 40  # the same step 0 (no KD there), and it learnt something
    assert finetune < dkd - 10, dict(dkd=dkd, finetune=finetune, step0=dkd_base)
