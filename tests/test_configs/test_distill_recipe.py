"""configs/distill holds the whole recipe (each config is also run by test_all_configs.py)."""
from pathlib import Path

CONFIGS = sorted((Path(__file__).resolve().parents[2] / 'configs' / 'distill').glob('*.py'))


def test_the_recipe_is_complete():
    """Per dataset: one teacher, and a CWD + KL, a CWD-only and a no-KD student."""
    names = {p.name for p in CONFIGS}
    for dataset in ('shapes', 'sgd-300e_mar20'):
        teacher = [n for n in names if n.startswith('yolov8_n_teacher') and dataset in n]
        assert len(teacher) == 1, (dataset, names)
        for method in ('cwd-kl_yolov8_n_', 'cwd_yolov8_n_', 'yolov8_n_no-kd_'):
            assert f'{method}{dataset}.py' in names
