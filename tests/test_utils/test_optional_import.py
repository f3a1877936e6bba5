"""A method whose optional package is missing names the extra that installs it."""
import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from cissreg.utils.optional_import import EXTRAS, PIP_NAMES, import_optional

REPO = Path(__file__).resolve().parents[2]


def _missing(monkeypatch, *modules: str) -> None:
    """Make ``import <module>`` fail as it does when the package is not installed."""
    for name in [m for m in sys.modules if m.split('.')[0] in modules]:
        monkeypatch.delitem(sys.modules, name)
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_missing_package_names_package_user_and_extra(monkeypatch):
    _missing(monkeypatch, 'faiss')
    with pytest.raises(ImportError) as err:
        import_optional('faiss', 'gcd', 'k-nearest-neighbour search')
    message = str(err.value)
    assert message.startswith("'faiss-cpu' is not installed")
    assert 'it is needed by k-nearest-neighbour search.' in message
    assert 'pip install "cissreg[gcd]"' in message
    assert isinstance(err.value.__cause__, ImportError)


def test_present_package_is_returned():
    assert import_optional('numpy', 'gcd', 'x') is np


def test_unknown_extra_is_an_error():
    with pytest.raises(ValueError, match="unknown extra 'gdc'"):
        import_optional('numpy', 'gdc', 'x')


def test_faiss_knn_without_faiss_names_the_gcd_extra(monkeypatch):
    from cissreg.clustering import knn
    _missing(monkeypatch, 'faiss')
    points = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    with pytest.raises(ImportError, match=r'pip install "cissreg\[gcd\]"'):
        knn(points, 2, backend='faiss')


def test_clip_model_without_transformers_names_the_clip_extra(monkeypatch):
    from cissreg.models.clip import build_clip_model
    _missing(monkeypatch, 'transformers')
    with pytest.raises(ImportError, match=r"'transformers' is not installed.*needed by CLIP "
                                          r'models.*pip install "cissreg\[clip\]"'):
        build_clip_model(config=dict(projection_dim=8))


def test_digits_dataset_without_sklearn_names_the_clip_extra(monkeypatch):
    from cissreg.datasets.cil import DigitsCILDataset
    _missing(monkeypatch, 'sklearn')
    with pytest.raises(ImportError,
                       match=r"'scikit-learn' is not installed.*needed by DigitsCILDataset"):
        DigitsCILDataset(split='train')


def _optional_imports():
    """``(file, module, extra)`` of every ``import_optional`` call in the package."""
    for path in sorted((REPO / 'cissreg').rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'import_optional'
                    and all(isinstance(a, ast.Constant) for a in node.args[:2])):
                yield path.relative_to(REPO), node.args[0].value, node.args[1].value


def test_every_named_extra_installs_the_package():
    calls = list(_optional_imports())
    assert len(calls) >= 15  # CLIP, LoRA, tokenizers, SAM2, MLLM, clustering, data sets
    for path, module, extra in calls:
        assert extra in EXTRAS, (path, extra)
        top = module.split('.')[0]
        package = PIP_NAMES.get(top, top)
        text = (REPO / 'requirements' / f'{extra}.txt').read_text()
        listed = {re.split(r'[<>=!~ ]', line.strip())[0].lower() for line in text.splitlines()
                  if line.strip() and not line.startswith('#')}
        assert package.lower() in listed, f'{path}: {package} is not in requirements/{extra}.txt'


def test_runtime_requirements_hold_no_method_package():
    text = (REPO / 'requirements' / 'runtime.txt').read_text().lower()
    for package in ('transformers', 'peft', 'faiss', 'scikit-learn', 'scipy', 'mlxtend',
                    'ftfy', 'regex'):
        assert package not in text
