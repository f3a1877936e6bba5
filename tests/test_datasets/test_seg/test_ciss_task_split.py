"""CISSTaskSplit on a synthetic VOC tree with known class content: DKD's image sets,
label remapping, memory items, eval masking, cache reuse."""
import os
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from cissreg.datasets.seg import CISSTaskSplit, VOCSegDataset, ciss_task_sizes
from cissreg.datasets.seg import task_split as task_split_module

# image id -> labels present (besides background); 255 = ignore border
CONTENT = {
    'a': [1, 2], 'b': [15], 'c': [16], 'd': [3, 16], 'e': [16, 17], 'f': [20, 255],
    'g': [5, 18, 19], 'h': [], 'i': [14, 15, 16], 'j': [17, 255], 'k': [12, 20],
}


def write_voc_tree(root, content=CONTENT, size=(6, 8)):
    for sub in ('JPEGImages', 'SegmentationClassAug', 'ImageSets/Segmentation'):
        os.makedirs(osp.join(root, sub), exist_ok=True)
    for img_id, labels in content.items():
        mask = np.zeros(size, np.uint8)
        for k, lab in enumerate(labels):
            mask[k % size[0], k] = lab
        Image.fromarray(mask).save(osp.join(root, 'SegmentationClassAug', img_id + '.png'))
        Image.fromarray(np.full(size + (3, ), 128, np.uint8)).save(
            osp.join(root, 'JPEGImages', img_id + '.jpg'))
    lines = [f'/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png' for i in content]
    for split in ('train_aug', 'val'):
        with open(osp.join(root, 'ImageSets/Segmentation', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def dkd_reference(content, steps, setting):
    """DKD's filter written plainly: any current class; disjoint: every label in
    old + new + {0, 255}."""
    out = []
    for t, new in enumerate(steps):
        seen = {c for s in steps[:t + 1] for c in s} | {0, 255}
        ids = []
        for img_id, labels in content.items():
            labels = set(labels) | {0}
            if not labels & set(new):
                continue
            if setting == 'disjoint' and not labels <= seen:
                continue
            ids.append(img_id)
        out.append(ids)
    return out


@pytest.mark.parametrize('task', ['15-1', '15-5'])
@pytest.mark.parametrize('setting', ['overlap', 'disjoint'])
def test_step_image_sets_equal_dkd_rules(tmp_path, task, setting):
    root = write_voc_tree(str(tmp_path / 'voc'))
    dataset = VOCSegDataset(data_root=root, split='train_aug', pipeline=[])
    split = CISSTaskSplit(task=task, setting=setting, cache_dir=str(tmp_path / 'cache'),
                          progress=False)
    sizes = ciss_task_sizes(task, 20)
    steps, start = [], 1
    for s in sizes:
        steps.append(list(range(start, start + s)))
        start += s
    expected = dkd_reference(CONTENT, steps, setting)
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    for t in range(split.num_tasks(dataset)):
        got = [ids[i] for i in split.train_subset(dataset, t).indices]
        assert got == expected[t], (t, got, expected[t])


def test_cache_is_reused_without_reading_masks(tmp_path, monkeypatch):
    root = write_voc_tree(str(tmp_path / 'voc'))
    dataset = VOCSegDataset(data_root=root, pipeline=[])
    cache = str(tmp_path / 'cache')
    first = CISSTaskSplit('15-1', cache_dir=cache, progress=False)
    lists = first.lists(dataset)
    assert not first.last_from_cache and len(os.listdir(cache)) == 1

    def fail(*args, **kwargs):
        raise AssertionError('masks read again although the cache exists')

    monkeypatch.setattr(task_split_module, 'label_presence', fail)
    second = CISSTaskSplit('15-1', cache_dir=cache, progress=False)
    assert second.lists(dataset) == lists and second.last_from_cache
    other = CISSTaskSplit('15-1', setting='disjoint', cache_dir=cache, progress=False)
    with pytest.raises(AssertionError, match='masks read again'):
        other.lists(dataset)  # another setting is another cache entry


def test_labels_remapped_memory_trusted_and_eval_masking(tmp_path):
    init_default_scope('cissreg')
    root = write_voc_tree(str(tmp_path / 'voc'))
    pipeline = [dict(type='LoadSegSample'), dict(type='PackSegInputs')]
    dataset = VOCSegDataset(data_root=root, pipeline=pipeline)
    split = CISSTaskSplit('15-1', progress=False)
    ids = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))]
    split.set_memory(1, [ids.index('a')])
    subset = split.train_subset(dataset, 1)  # step 1 = class 16
    by_id = {ids[i]: subset[k]['data_samples'] for k, i in enumerate(subset.indices)}
    assert set(np.unique(by_id['i'].gt_seg.numpy())) == {0, 16}  # 14, 15 -> 0
    assert set(np.unique(by_id['i'].trusted_seg.numpy())) == {0, 16}
    assert set(np.unique(by_id['a'].gt_seg.numpy())) == {0}  # memory: old classes -> 0
    assert set(np.unique(by_id['a'].trusted_seg.numpy())) == {0, 1, 2}  # ... kept here
    val = split.eval_subset(dataset, 1)
    val_ids = [ids[i] for i in val.indices]
    assert val_ids == [i for i in CONTENT if set(CONTENT[i]) & set(range(1, 17))]
    sample = val[val_ids.index('e')]['data_samples']
    assert set(np.unique(sample.gt_seg.numpy())) == {0, 16}  # future 17 -> 0
    assert sample.ciss_task == 1 and sample.ciss_num_base == 15 and sample.ciss_num_seen == 16


def test_task_sizes_and_bad_names():
    assert ciss_task_sizes('15-1', 20) == [15, 1, 1, 1, 1, 1]
    assert ciss_task_sizes('5-3', 20) == [5, 3, 3, 3, 3, 3]
    assert ciss_task_sizes('100-10', 150) == [100] + [10] * 5
    assert ciss_task_sizes('50-50', 150) == [50, 50, 50]
    with pytest.raises(ValueError, match='does not split'):
        ciss_task_sizes('15-4', 20)
