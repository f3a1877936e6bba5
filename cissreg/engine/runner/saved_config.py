"""Read values from the config text stored in a checkpoint, as data, never as code.

mmengine stores ``cfg.pretty_text`` in every checkpoint's ``meta['cfg']`` (older checkpoints:
``meta['config']``) and its ``Runner.resume`` evaluates that text with ``Config.fromstring``.
Whoever wrote the checkpoint controls that text, and a checkpoint that holds only strings and
tensors passes ``weights_only`` loading, so evaluating it would run the author's code. Here the
text is only parsed (:func:`ast.parse`) and literal values are read from assignments such as
``optim_wrapper = dict(optimizer=dict(type='AdamW', ...))``; nothing in it is executed.
"""
import ast
from typing import Any, Optional, Sequence

_MISSING = object()


def saved_config_value(text: Any, path: Sequence[str], default: Any = None) -> Any:
    """The literal value at ``path`` in a config text, or ``default``.

    Args:
        text (Any): Config text (``meta['cfg']`` of a checkpoint); anything else gives
            ``default``.
        path (sequence of str): Top-level variable, then keys of nested ``dict(...)`` /
            ``{...}`` literals, e.g. ``('optim_wrapper', 'optimizer', 'type')``.
        default (Any): Returned when the text does not parse, the path is absent, or the
            value is not a literal (a name, a call other than ``dict``, an expression).

    Returns:
        Any: The value (``dict(...)`` calls become dicts, lists stay lists).
    """
    if not isinstance(text, str) or not path:
        return default
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return default
    node = _MISSING
    for statement in tree.body:  # the last assignment wins, as when the text runs
        if isinstance(statement, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == path[0]
                for target in statement.targets):
            node = statement.value
    for key in path[1:]:
        if node is _MISSING:
            return default
        node = _item(node, key)
    if node is _MISSING:
        return default
    value = _literal(node)
    return default if value is _MISSING else value


def saved_scheduler_types(text: Any) -> Optional[list]:
    """The ``type`` of each ``param_scheduler`` entry of a config text, or None if unreadable."""
    schedulers = saved_config_value(text, ('param_scheduler', ))
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    if not isinstance(schedulers, list) or not all(isinstance(s, dict) for s in schedulers):
        return None
    return [str(s.get('type')) for s in schedulers]


def _item(node: ast.AST, key: str) -> Any:
    """The value node for ``key`` in a ``dict(...)`` call or ``{...}`` literal node."""
    if _is_dict_call(node):
        for keyword in node.keywords:
            if keyword.arg == key:
                return keyword.value
    elif isinstance(node, ast.Dict):
        for key_node, value in zip(node.keys, node.values):
            if isinstance(key_node, ast.Constant) and key_node.value == key:
                return value
    return _MISSING


def _is_dict_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args)


def _literal(node: ast.AST) -> Any:
    """A literal node as a value, ``dict(...)`` calls included; ``_MISSING`` otherwise."""
    if _is_dict_call(node):
        out = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                return _MISSING
            out[keyword.arg] = _literal(keyword.value)
            if out[keyword.arg] is _MISSING:
                return _MISSING
        return out
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(item) for item in node.elts]
        if any(item is _MISSING for item in items):
            return _MISSING
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            return _MISSING
        out = {}
        for key_node, value_node in zip(node.keys, node.values):
            key, value = _literal(key_node), _literal(value_node)
            if key is _MISSING or value is _MISSING:
                return _MISSING
            out[key] = value
        return out
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return _MISSING
