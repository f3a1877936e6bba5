"""A Config whose ``pretty_text`` is formatted once per content, not once per checkpoint."""
import copy

from mmengine.config import Config


class MemoTextConfig(Config):
    """mmengine ``Config`` that remembers its formatted text until the content changes.

    mmengine's Runner puts ``cfg.pretty_text`` into the meta of every checkpoint and logs it
    at start; each call formats the whole config with yapf (1-5 s for a YOLOv8 config on a
    2-core CPU), so a run paid it at every epoch. The text is cached together with the
    ``repr`` of the config's content (microseconds) and recomputed when that changes.
    """

    @classmethod
    def of(cls, cfg: Config) -> 'MemoTextConfig':
        """A deep copy of ``cfg`` as a :class:`MemoTextConfig` (``cfg`` is not changed)."""
        other = cls.__new__(cls)
        for key, value in cfg.__dict__.items():
            super(Config, other).__setattr__(key, copy.deepcopy(value))
        return other

    @property
    def pretty_text(self) -> str:
        key = repr(self._cfg_dict.to_dict())
        memo = self.__dict__.get('_memo_pretty_text')
        if memo is None or memo[0] != key:
            memo = (key, super().pretty_text)
            super(Config, self).__setattr__('_memo_pretty_text', memo)
        return memo[1]
