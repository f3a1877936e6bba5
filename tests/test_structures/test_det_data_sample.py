"""DetDataSample: typed instance fields (set, type check, delete, copies)."""
import pytest
import torch
from mmengine.structures import InstanceData

from cissreg.structures import DetDataSample


@pytest.mark.parametrize('field', ['gt_instances', 'pred_instances'])
def test_instance_fields_are_typed_data_fields(field):
    sample = DetDataSample(metainfo=dict(img_path='a.png'))
    assert field not in sample
    setattr(sample, field, InstanceData(labels=torch.tensor([3, 1])))
    assert field in sample.keys() and field not in sample.metainfo_keys()
    assert getattr(sample.clone(), field).labels.tolist() == [3, 1]
    assert getattr(sample.new(), field).labels.tolist() == [3, 1]
    with pytest.raises(AssertionError, match='should be a'):
        setattr(sample, field, torch.zeros(2))
    delattr(sample, field)
    assert field not in sample
    with pytest.raises(AttributeError):
        getattr(sample, field)
