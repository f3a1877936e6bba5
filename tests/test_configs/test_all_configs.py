"""Every shipped config (configs/<folder>/*.py, not _base_) builds and trains on tiny data.

Each folder has an adapter ``cissreg/testing/tiny/<folder>.py`` (see ``tiny/__init__.py``)
whose ``make_tiny(cfg, tmp_path)`` rewrites the config to one or two iterations on tiny data;
the test then builds it through ``RUNNERS`` (the config's own ``runner_type``, which must be
CissRunner), trains, and runs the adapter's ``check(runner, cfg)`` if it has one.
"""
import importlib
from pathlib import Path

import pytest
from mmengine.config import Config

from cissreg.engine.runner import CissRunner
from cissreg.engine.runner.config_check import near_miss_keys
from cissreg.registry import RUNNERS
from cissreg.testing import tiny

REPO = Path(__file__).resolve().parents[2]
CONFIG_ROOT = REPO / 'configs'
ADAPTERS = Path(tiny.__file__).parent
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py')
                 if p.relative_to(CONFIG_ROOT).parts[0] != '_base_')


def adapter_for(config: Path):
    """The ``cissreg.testing.tiny.<folder>`` module of ``config``'s folder; fails saying how
    to write one."""
    folder = config.relative_to(CONFIG_ROOT).parts[0]
    if not (ADAPTERS / f'{folder}.py').is_file():
        pytest.fail(
            f'configs/{folder}/ has no smoke-test adapter: write cissreg/testing/tiny/'
            f'{folder}.py defining `make_tiny(cfg, tmp_path) -> cfg` (rewrite data roots, sizes '
            'and schedule so that the config runs 1-2 iterations on tiny data written under '
            'tmp_path or through tiny._shared.shared_data) and optionally `check(runner, cfg)`; '
            'see cissreg/testing/tiny/__init__.py and tiny/yolov8.py.', pytrace=False)
    return importlib.import_module(f'cissreg.testing.tiny.{folder}')


@pytest.mark.parametrize('config', CONFIGS,
                         ids=[str(p.relative_to(CONFIG_ROOT)) for p in CONFIGS])
def test_config_builds_and_trains(config, tmp_path):
    adapter = adapter_for(config)
    cfg = Config.fromfile(str(config))
    assert near_miss_keys(cfg) == {}, 'top-level keys that look like misspelled Runner arguments'
    cfg = adapter.make_tiny(cfg, tmp_path)
    runner = RUNNERS.build(cfg)
    assert isinstance(runner, CissRunner), f'runner_type = {cfg.get("runner_type")!r}'
    runner.train()
    if hasattr(adapter, 'check'):
        adapter.check(runner, cfg)


def test_a_folder_without_adapter_fails_naming_the_file_to_write(tmp_path):
    with pytest.raises(pytest.fail.Exception,
                       match=r'configs/brand_new/ has no smoke-test adapter: write '
                             r'cissreg/testing/tiny/brand_new.py defining `make_tiny'):
        adapter_for(CONFIG_ROOT / 'brand_new' / 'x.py')
