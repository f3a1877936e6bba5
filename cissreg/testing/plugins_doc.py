"""Shared by the tests that run docs/en/user_guides/plugins.md's examples as written."""
import os.path as osp
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional

from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def code_blocks(start: str, end: str = None) -> List[str]:
    """The ```python blocks of plugins.md between the headings ``start`` and ``end``."""
    with open(osp.join(ROOT, 'docs', 'en', 'user_guides', 'plugins.md')) as f:
        text = f.read()
    section = text[text.index(start):text.index(end) if end else None]
    return re.findall(r'```python\n(.*?)```', section, re.S)


def load_plugin_config(tmp_path: Path, monkeypatch, module_name: str, module: str,
                       config: str, extra_modules: Optional[Dict[str, str]] = None) -> Config:
    """Write ``my_pkg/<module_name>.py`` (and ``my_pkg/<name>.py`` for each of
    ``extra_modules``) and ``my_configs/cfg.py`` outside the package and load the config
    (which runs its ``custom_imports``); no earlier ``my_pkg`` shadows this one."""
    (tmp_path / 'my_pkg').mkdir()
    (tmp_path / 'my_pkg' / '__init__.py').write_text('')
    for name, text in {module_name: module, **(extra_modules or {})}.items():
        (tmp_path / 'my_pkg' / f'{name}.py').write_text(text)
    (tmp_path / 'my_configs').mkdir()
    (tmp_path / 'my_configs' / 'cfg.py').write_text(
        config.replace('../configs/', osp.join(ROOT, 'configs') + '/'))
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == 'my_pkg' or m.startswith('my_pkg.')]:
        sys.modules.pop(name)
    return Config.fromfile(str(tmp_path / 'my_configs' / 'cfg.py'))
