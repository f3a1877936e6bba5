"""cissreg.testing.reference: a missing reference package skips locally and fails under CI=true."""
import pytest
from _pytest.outcomes import Failed, Skipped

from cissreg.testing.reference import require

MISSING = 'sklearn.cissreg_no_such_module'


def test_returns_the_imported_module(monkeypatch):
    monkeypatch.setenv('CI', 'true')
    import scipy.optimize
    assert require('scipy.optimize') is scipy.optimize


@pytest.mark.parametrize('ci', ['', 'false', '0'])
def test_missing_package_skips_outside_ci(monkeypatch, ci):
    monkeypatch.setenv('CI', ci)
    with pytest.raises(Skipped,
                       match=r"reference package 'sklearn' .* `pip install scikit-learn`"):
        require(MISSING)


@pytest.mark.parametrize('ci', ['true', 'TRUE', '1'])
def test_missing_package_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv('CI', ci)
    with pytest.raises(Failed, match=rf"CI=true: reference package 'sklearn' .*{MISSING}"):
        require(MISSING)


def test_only_reference_packages_are_accepted():
    with pytest.raises(ValueError, match="'numpy' is not a reference package"):
        require('numpy')
