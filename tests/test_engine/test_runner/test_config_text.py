"""MemoTextConfig formats the config once per content, with the same text as mmengine."""
import copy

from mmengine.config import Config

from cissreg.engine.runner.config_text import MemoTextConfig


def _counting_pretty_text(monkeypatch):
    calls = []
    original = Config.pretty_text

    def counted(self):
        calls.append(1)
        return original.fget(self)

    monkeypatch.setattr(Config, 'pretty_text', property(counted))
    return calls


def test_same_text_formatted_once_until_content_changes(monkeypatch):
    cfg = Config(dict(model=dict(type='Toy', depth=3), lr=0.1))
    expected = cfg.pretty_text
    calls = _counting_pretty_text(monkeypatch)
    memo = MemoTextConfig.of(cfg)
    assert memo.pretty_text == expected
    assert memo.pretty_text == expected
    assert copy.deepcopy(memo).pretty_text == expected  # the Runner deep-copies its cfg
    assert len(calls) == 1
    memo.model.depth = 5
    assert 'depth=5' in memo.pretty_text
    assert len(calls) == 2
    assert cfg.model.depth == 3 and type(cfg) is Config  # the source config is untouched


def test_runner_from_cfg_keeps_a_memo_config(toy, tmp_path):
    from cissreg.engine.runner import CissRunner
    runner = CissRunner.from_cfg(toy.toy_cfg(str(tmp_path)))
    assert isinstance(runner.cfg, MemoTextConfig)
    assert runner.cfg.pretty_text == toy.toy_cfg(str(tmp_path)).pretty_text
