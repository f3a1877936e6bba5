"""Numbers read from annotation files: NaN and infinity are refused with the place named.

Python's ``float`` accepts ``nan``, ``inf`` and ``infinity`` (and ``json`` reads ``NaN`` /
``Infinity``); every comparison with NaN is false, so range and inverted-box checks let it
through, and training then runs on a NaN box or label. These helpers are the one rule the
loaders share.
"""
import math
from typing import Any, Sequence

import numpy as np


def finite_float(value: Any, where: str, what: str) -> float:
    """``float(value)``, refusing a value that is not a finite number.

    Args:
        value (Any): Text or number from an annotation.
        where (str): The place, e.g. ``"YOLO label file 'a.txt', line 3"``.
        what (str): The field, e.g. ``'<xmin>'``.

    Returns:
        float: The value.

    Raises:
        ValueError: ``{where}: {what} is not a number: ...`` or ``... is not a finite
            number: ...``.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{where}: {what} is not a number: {value!r}') from None
    if not math.isfinite(number):
        raise ValueError(f'{where}: {what} is not a finite number: {value!r}')
    return number


def integer_labels(values: Sequence, where: str) -> np.ndarray:
    """Class labels as int64 [N], refusing NaN, infinity and fractions (numpy casts NaN to
    ``-2**63`` silently).

    Raises:
        ValueError: Names ``where``, the index and the value of the first bad label.
    """
    array = np.asarray(values)
    if array.dtype.kind in 'iu':
        return array.astype(np.int64)
    try:
        numbers = array.astype(np.float64)
    except (TypeError, ValueError):
        numbers = None
    if numbers is None:
        bad = next(i for i, v in enumerate(values) if not _is_number(v))
    else:
        ok = np.isfinite(numbers) & (numbers == np.round(numbers))
        if ok.all():
            return numbers.astype(np.int64)
        bad = int(np.flatnonzero(~ok)[0])
    value = values[bad]
    shown = value.item() if isinstance(value, np.generic) else value
    raise ValueError(f'{where}: label {bad} is {shown!r}, not an integer class id')


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
