"""Test-session settings.

One intra-op thread per process: the suite's tensors are tiny, several tests start worker
processes (DDP on gloo, dataloaders, tools as subprocesses), and OpenMP threads that outnumber
the cores spin against each other (10-40x slowdowns measured on a 2-core machine).
"""
import os

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('MKL_NUM_THREADS', '1')

import torch  # noqa: E402

torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))

import importlib  # noqa: E402
import logging  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Iterator, List  # noqa: E402

import pytest  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from cissreg.utils import register_all_modules  # noqa: E402

# as tools/*.py do; tests/test_utils/test_setup_env.py checks a bare import in a subprocess
register_all_modules(init_default_scope=False)


@pytest.fixture(scope='session')
def toy():
    """The toy parts module :mod:`cissreg.testing.toy_parts`.

    It registers a toy model, dataset, metric and hooks into cissreg's registries; its
    ``toy_cfg(work_dir, ...)`` returns a runner config, so ``CissRunner.from_cfg(
    toy.toy_cfg(tmp_path))`` is a complete runner that trains in well under a second.
    """
    return importlib.import_module('cissreg.testing.toy_parts')


@contextmanager
def _captured_log() -> Iterator[List[str]]:
    records: List[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def captured_log():
    """``with captured_log() as messages:`` collects what mmengine's current logger receives."""
    return _captured_log


@pytest.fixture
def cissreg_scope():
    """Build through mmengine's root registries with ``default_scope = 'cissreg'``."""
    with DefaultScope.overwrite_default_scope('cissreg'):
        yield


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished child processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``CISSREG_CPU_DURATIONS=FILE``, append ``cpu_seconds<TAB>test id`` per test to FILE.

    On a shared machine wall times (``--durations``) measure the neighbours too; CPU time of
    the test and the subprocesses it waited for is what the suite costs.
    """
    path = os.environ.get('CISSREG_CPU_DURATIONS')
    start = _cpu_seconds()
    yield
    if path:
        with open(path, 'a') as f:
            f.write(f'{_cpu_seconds() - start:.2f}\t{item.nodeid}\n')
