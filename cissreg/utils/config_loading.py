"""Load a config with ``--cfg-options`` whose top-level variables reach every use.

mmengine evaluates a Python config file top to bottom, so in::

    superclass = 0
    train = dict(type='CIFAR100SuperclassDataset', superclass=superclass)

``--cfg-options superclass=3`` afterwards only changes the top-level ``superclass`` entry;
``train.superclass`` stays 0. :func:`load_config` re-evaluates the config (and its bases) with
every top-level assignment of an overridden variable replaced by the given value, so the
value reaches every place that reads the variable, then merges the options as usual.
"""
import ast
import contextlib
from typing import Dict, Iterator, Optional

import mmengine.config.config as mmengine_config
from mmengine.config import Config


def top_level_variables(cfg: Config, options: Dict) -> Dict:
    """The options that set a top-level variable of ``cfg`` (no dot in the key and an
    existing top-level value that is not a dict)."""
    return {k: v for k, v in options.items()
            if '.' not in k and k in cfg and not isinstance(cfg[k], dict)}


def _literal(name: str, value) -> ast.expr:
    """The AST of ``value`` as a Python literal, or a clear error."""
    text = repr(value.to_dict() if hasattr(value, 'to_dict') else value)
    try:
        if ast.literal_eval(text) != value:
            raise ValueError
    except (ValueError, SyntaxError):
        raise ValueError(f'--cfg-options {name}={value!r}: a top-level config variable can '
                         'only be set to a Python literal (number, string, bool, None, list, '
                         'tuple, dict)') from None
    return ast.parse(text, mode='eval').body


@contextlib.contextmanager
def _assignments_replaced(values: Dict) -> Iterator[None]:
    """While active, mmengine's config parser replaces the right-hand side of every
    module-level ``NAME = ...`` with ``values[NAME]`` in every file it reads."""
    original = mmengine_config.RemoveAssignFromAST
    exprs = {k: _literal(k, v) for k, v in values.items()}

    class ReplaceAssign(original):

        def visit_Module(self, node: ast.Module) -> ast.Module:
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                        and isinstance(stmt.targets[0], ast.Name)
                        and stmt.targets[0].id in exprs):
                    stmt.value = exprs[stmt.targets[0].id]
            return self.generic_visit(node)

    mmengine_config.RemoveAssignFromAST = ReplaceAssign
    try:
        yield
    finally:
        mmengine_config.RemoveAssignFromAST = original


def load_config(filename: str, cfg_options: Optional[Dict] = None) -> Config:
    """``Config.fromfile(filename)`` with ``cfg_options`` applied.

    Options that set a top-level variable (``superclass=3``, ``max_epochs=20``) are applied
    where the config file assigns that variable, so every entry computed from it follows;
    then all options are merged with ``Config.merge_from_dict``.

    Args:
        filename (str): Config file.
        cfg_options (dict, optional): ``--cfg-options`` as parsed by ``DictAction``.

    Returns:
        Config: the config.
    """
    options = dict(cfg_options or {})
    cfg = Config.fromfile(filename)
    variables = top_level_variables(cfg, options)
    if variables:
        with _assignments_replaced(variables):
            cfg = Config.fromfile(filename)
    if options:
        cfg.merge_from_dict(options)
    return cfg
