"""atomic_write_bytes: a crash mid-write keeps the old file and leaves no temp file."""
import os

import pytest

from cissreg.utils import atomic_io
from cissreg.utils.atomic_io import atomic_write_bytes


@pytest.mark.parametrize('error', [OSError, KeyboardInterrupt])
def test_atomic_write_keeps_old_file_on_crash(tmp_path, monkeypatch, error):
    target = tmp_path / 'file.bin'
    atomic_write_bytes(target, b'old content')

    def crash(f, data):
        f.write(data[:3])
        raise error('killed')

    monkeypatch.setattr(atomic_io, '_write_chunks', crash)
    with pytest.raises(error):
        atomic_write_bytes(target, b'new content that never lands')
    assert target.read_bytes() == b'old content'
    assert os.listdir(tmp_path) == ['file.bin']  # no temp file left behind

    monkeypatch.undo()
    atomic_write_bytes(target, b'new content')
    assert target.read_bytes() == b'new content'
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # usual permissions, not mkstemp's
