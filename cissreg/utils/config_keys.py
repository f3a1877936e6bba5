"""Say which config key was meant when a dict read with ``.get`` holds an unknown one."""
import difflib
import logging
from typing import Mapping, Sequence

from mmengine.logging import print_log


def unknown_key_note(key: str, known: Sequence[str]) -> str:
    """``"'x'. Did you mean 'y'? Accepted: a, b."`` for a key not in ``known``."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f' Did you mean {close[0]!r}?' if close else ''
    return f'{key!r}.{hint} Accepted: {", ".join(known)}.'


def warn_unknown_keys(section: Mapping, known: Sequence[str], path: str) -> None:
    """Log a warning for each key of ``section`` (config ``path``) that is not in ``known``.

    For dicts whose reader uses ``.get`` with defaults: a misspelled key would otherwise be
    ignored without a word (``model.test_cfg.score_thrr``).
    """
    for key in section:
        if key not in known:
            print_log(f'{path}: the key {unknown_key_note(key, known)[:-1]}; it is ignored.',
                      logger='current', level=logging.WARNING)
