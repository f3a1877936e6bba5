"""The incremental protocol's base classes: defaults, and what the loop refuses."""
import pytest
from mmengine.model import BaseModel

from cissreg.datasets.base_task_split import BaseTaskSplit
from cissreg.datasets.cil import ClassIncrementalSplit
from cissreg.engine.hooks import IncrementalHook
from cissreg.models.incremental_model import IncrementalModelMixin
from cissreg.registry import MODELS, RUNNERS, TASK_UTILS
from cissreg.testing.clip_cil_parts import digits_run_cfg


def test_defaults_are_no_ops():
    class Model(IncrementalModelMixin, BaseModel):

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return inputs

    model = Model()
    assert model.task_sizes is None and model.runs_stage(3, 2) is True
    assert model.begin_task(0, {}) is None and model.set_stage(2) is None
    hook = IncrementalHook()
    for event, kwargs in (('before_train_task', dict(task_id=0)),
                          ('after_train_task', dict(task_id=0)),
                          ('before_train_stage', dict(task_id=0, stage=1)),
                          ('after_train_stage', dict(task_id=0, stage=1))):
        assert getattr(hook, event)(None, **kwargs) is None  # the loop's keyword call


def test_task_splits_are_task_utils():
    split = TASK_UTILS.build(dict(type='ClassIncrementalSplit', init_class=2, increment=3))
    assert isinstance(split, BaseTaskSplit)
    assert TASK_UTILS.get('CISSTaskSplit') is not None


def test_a_split_without_sizes_adopts_the_models_and_checks_the_dataset():
    class Data:
        metainfo = dict(classes=list('abcdefg'))

    split = ClassIncrementalSplit()
    with pytest.raises(ValueError, match='no task sizes. Give them in train_cfg.task_split'):
        split.task_sizes(Data())
    split.adopt_task_sizes([3, 2, 2])
    assert split.task_sizes(Data()) == [3, 2, 2] and split.ranges(Data())[1] == (3, 5)
    assert split.task_info(Data(), 1)['task_sizes'] == [3, 2, 2]
    split.adopt_task_sizes([3, 2])
    with pytest.raises(ValueError, match=r'sum to 5, but the dataset has 7 classes'):
        split.task_sizes(Data())


@MODELS.register_module(force=True)
class PlainLinear(BaseModel):
    """A model without the incremental protocol."""

    def __init__(self) -> None:
        super().__init__()
        import torch.nn as nn
        self.fc = nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return inputs


def test_the_loop_refuses_a_model_without_the_protocol(tmp_path):
    cfg = digits_run_cfg(str(tmp_path))
    cfg.model = dict(type='PlainLinear')
    with pytest.raises(TypeError, match='the model PlainLinear is not an IncrementalModelMixin'):
        RUNNERS.build(cfg).train()
