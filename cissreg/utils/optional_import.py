"""Import a package of an optional extra, or say which extra installs it.

``pip install -e .`` installs what ``import cissreg`` and the YOLOv8 / default configs need.
A method that needs more imports it through :func:`import_optional` when it is used, so a
missing package fails with the ``pip install "cissreg[<extra>]"`` line that installs it.
The extras are ``requirements/<extra>.txt`` (``setup.py`` reads them).
"""
import importlib
from types import ModuleType

# import name -> the name pip knows it by, where they differ
PIP_NAMES = {'sklearn': 'scikit-learn', 'faiss': 'faiss-cpu'}

EXTRAS = ('clip', 'gcd', 'mllm')


def import_optional(module: str, extra: str, used_by: str) -> ModuleType:
    """Import ``module``; if it is missing, raise an ImportError naming ``extra``.

    Args:
        module (str): Dotted module name, e.g. ``'transformers'`` or ``'scipy.sparse'``.
        extra (str): The extra that installs it: ``'clip'``, ``'gcd'`` or ``'mllm'``.
        used_by (str): What needs it, for the message (e.g. ``'CLIP models'``).

    Returns:
        ModuleType: The imported module.

    Raises:
        ImportError: ``module`` cannot be imported; the message names the package, what needs
            it and the install command, e.g. ``pip install "cissreg[gcd]"``.
    """
    if extra not in EXTRAS:
        raise ValueError(f'unknown extra {extra!r}; expected one of {", ".join(EXTRAS)}')
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split('.')[0]
        package = PIP_NAMES.get(top, top)
        raise ImportError(
            f'{package!r} is not installed ({err}); it is needed by {used_by}. Install the '
            f'"{extra}" extra: pip install "cissreg[{extra}]" (in a source checkout: '
            f'pip install -e ".[{extra}]")') from err
