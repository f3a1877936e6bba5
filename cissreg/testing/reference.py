"""Reference packages for parity tests: skippable locally, never in CI.

A parity test compares cissreg with the package it claims to match. Locally a missing package
skips the test with the reason; in CI (``CI=true``, as GitHub Actions and ``.ci/run`` set it)
it fails, so a venv without the reference cannot pass silently.

    from cissreg.testing.reference import require
    ul_tal = require('ultralytics.utils.tal')
"""
import importlib
import os
from types import ModuleType

REFERENCE_PACKAGES = {
    'ultralytics': 'ultralytics==8.3.40',
    'open_clip': 'open-clip-torch',
    'pycocotools': 'pycocotools',
    'scipy': 'scipy',
    'sklearn': 'scikit-learn',
}


def in_ci() -> bool:
    """Whether this run is CI (``CI`` set to ``true`` or ``1``, any case)."""
    return os.environ.get('CI', '').strip().lower() in ('true', '1')


def require(name: str) -> ModuleType:
    """Import and return the reference module ``name`` (a package or one of its modules).

    Args:
        name (str): Dotted module name whose first part is one of ``REFERENCE_PACKAGES``,
            e.g. ``'pycocotools.cocoeval'``.

    Returns:
        ModuleType: The imported module.

    Raises:
        ValueError: ``name`` is not in a reference package.
        pytest.fail.Exception: It cannot be imported and ``CI=true``.
        pytest.skip.Exception: It cannot be imported outside CI.
    """
    package = name.split('.')[0]
    if package not in REFERENCE_PACKAGES:
        raise ValueError(f'{package!r} is not a reference package; expected one of '
                         f'{", ".join(REFERENCE_PACKAGES)}')
    try:
        return importlib.import_module(name)
    except ImportError as err:
        reason = (f'reference package {package!r} is needed by this parity test but importing '
                  f'{name!r} failed ({type(err).__name__}: {err}); install it with '
                  f'`pip install {REFERENCE_PACKAGES[package]}` (requirements/tests.txt)')
        import pytest
        if in_ci():
            pytest.fail(f'CI=true: {reason}', pytrace=False)
        pytest.skip(reason, allow_module_level=True)
