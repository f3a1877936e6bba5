"""Import a script of the repository's ``tools/`` folder as a module (no ``sys.path`` change)."""
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def load_tool(path: str) -> ModuleType:
    """Import ``tools/<path>`` (e.g. ``'train.py'``, ``'analysis_tools/plot_curves.py'``).

    The module is executed afresh on every call and is registered in ``sys.modules`` as
    ``cissreg_tool_<name>`` (pickling and dataclasses look it up there).

    Args:
        path (str): Path of the script relative to ``tools/``.

    Returns:
        ModuleType: The imported script; its ``if __name__ == '__main__'`` block does not run.
    """
    file = REPO / 'tools' / path
    if not file.is_file():
        raise FileNotFoundError(f'no tool {file}')
    name = 'cissreg_tool_' + Path(path).stem
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
