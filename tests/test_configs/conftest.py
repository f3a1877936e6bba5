"""tests/test_configs: the tiny data of the config adapters is written once per session."""
import mmengine.config.config
import pytest

from cissreg.testing.tiny import _shared


@pytest.fixture(scope='session', autouse=True)
def tiny_data_root(tmp_path_factory):
    """Directory of the session's shared tiny datasets (see ``tiny._shared.shared_data``)."""
    _shared.DATA_ROOT = tmp_path_factory.mktemp('tiny_data')
    yield _shared.DATA_ROOT
    _shared.DATA_ROOT = None


@pytest.fixture(scope='session', autouse=True)
def unformatted_config_text():
    """Skip yapf in ``Config.pretty_text`` (same text, not re-indented).

    The Runner logs and dumps the config and every checkpoint stores it: with yapf that is
    2-4 s per call on a full YOLOv8 config, most of a smoke run's time on a 2-core machine.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mmengine.config.config, 'FormatCode', lambda text, **kwargs: (text, None))
        yield
