"""RegionPairDataset (procedural, COCO-style json with RLE) and the RefCOCO-style loader."""
import json

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from cissreg.datasets.region_pair_dataset import derangement
from cissreg.registry import DATASETS
from cissreg.testing.reference import require
from cissreg.utils.rle import rle_decode


@pytest.fixture(autouse=True)
def _cissreg_scope():
    init_default_scope('cissreg')


PIPE = lambda tok: [  # noqa: E731
    dict(type='LoadRegionPair'), dict(type='ResizeRegionPair', size=32),
    dict(type='TokenizeCaption', tokenizer=dict(path=tok), max_len=10), dict(type='PackRegionPair')
]


def test_procedural_pairs_written_once_and_loaded(tmp_path):
    root = tmp_path / 'pairs'
    ds = DATASETS.build(dict(type='RegionPairDataset', data_root=str(root), num_pairs=5,
                             img_size=48, pipeline=PIPE(str(root / 'tokenizer'))))
    assert len(ds) == 5
    coco = json.loads((root / 'train.json').read_text())
    assert len(coco['images']) == 10 and len(coco['pairs']) == 5
    mask_utils = require('pycocotools.mask')
    for ann in coco['annotations']:  # our RLE strings are valid pycocotools RLE
        m = mask_utils.decode(dict(size=ann['segmentation']['size'],
                                   counts=ann['segmentation']['counts'].encode()))
        assert np.array_equal(m, rle_decode(ann['segmentation']))
        assert int(m.sum()) == ann['area'] > 0
    anns = {a['id']: a for a in coco['annotations']}
    scene_anns = {}
    for ann in coco['annotations']:
        scene_anns.setdefault(ann['image_id'], []).append(ann)
    for pair in coco['pairs']:  # same object (attributes, caption), two different scenes
        a1, a2 = anns[pair['ann1']], anns[pair['ann2']]
        assert a1['attributes'] == a2['attributes'] and a1['image_id'] != a2['image_id']
        assert a1['caption'] == a2['caption'] == pair['caption']
        for target in (a1, a2):  # every distractor differs from the target in one attribute
            others = [a for a in scene_anns[target['image_id']] if a['id'] != target['id']]
            assert 2 <= len(others) <= 3
            diffs = [[k for k in a['attributes'] if a['attributes'][k] != target['attributes'][k]]
                     for a in others]
            assert all(len(d) == 1 for d in diffs) and len({d[0] for d in diffs}) == len(diffs)
            for a in scene_anns[target['image_id']]:  # the side is the half of the centre
                x, _, w, _ = a['bbox']
                assert (x + w / 2 < 24.5) == (a['attributes']['side'] == 'left')
        # the swapped caption names exactly one object of scene 2, a distractor
        named = [a for a in scene_anns[a2['image_id']] if a['caption'] == pair['swapped_caption']]
        assert len(named) == 1 and named[0]['id'] != a2['id']
    s = ds[0]
    assert s['img1'].shape == (3, 32, 32) and s['img1'].dtype == torch.uint8
    assert s['mask2'].shape == (32, 32) and set(s['mask2'].unique().tolist()) <= {0.0, 1.0}
    assert s['mask1'].sum() > 0 and s['mask2'].sum() > 0
    tok = ds.pipeline.transforms[2]._tokenizer
    caption = coco['pairs'][0]['caption']
    assert len(caption.split()) == 7
    assert tok.decode(s['caption_ids'][:7]) == caption
    assert s['caption_ids'][7] == tok.eos_token_id and s['caption_ids'][8] == tok.pad_token_id
    # the object under mask1 has the caption's colour
    color = {'red': 0, 'green': 1, 'blue': 2}.get(caption.split()[2])
    if color is not None:
        pix = s['img1'][:, s['mask1'].bool()].float().mean(1)
        assert int(pix.argmax()) == color
    mtime = (root / 'train.json').stat().st_mtime_ns
    DATASETS.build(dict(type='RegionPairDataset', data_root=str(root), num_pairs=5, img_size=48))
    assert (root / 'train.json').stat().st_mtime_ns == mtime  # written once
    with pytest.raises(ValueError, match='num_pairs'):
        DATASETS.build(dict(type='RegionPairDataset', data_root=str(root), num_pairs=6,
                            img_size=48))


def test_caption_modes_shuffle_and_swap(tmp_path):
    root = str(tmp_path / 'pairs')
    build = lambda mode: DATASETS.build(dict(  # noqa: E731
        type='RegionPairDataset', data_root=root, split='val', num_pairs=6, img_size=48,
        caption_mode=mode))
    infos = lambda ds: [ds.get_data_info(i) for i in range(len(ds))]  # noqa: E731
    true, shuffled = infos(build('true')), infos(build('shuffled'))
    swapped = infos(build('swapped'))
    captions = [d['caption'] for d in true]
    moved = [d['caption'] for d in shuffled]
    perm = derangement(6)
    assert sorted(perm.tolist()) == list(range(6)) and (perm != np.arange(6)).all()
    assert moved == [captions[i] for i in perm]
    coco = json.loads((tmp_path / 'pairs' / 'val.json').read_text())
    assert [d['caption'] for d in swapped] == [
        p['swapped_caption'] for p in coco['pairs']]
    for t, w in zip(captions, [d['caption'] for d in swapped]):
        assert sum(a != b for a, b in zip(t.split(), w.split())) == 1  # one attribute changed
    assert shuffled[0]['segm2'] == true[0]['segm2']  # only the text moves
    with pytest.raises(ValueError, match="caption_mode must be one of .*'typo'"):
        build('typo')


def test_refcoco_style_loader(tmp_path):
    import cv2
    (tmp_path / 'images').mkdir()
    cv2.imwrite(str(tmp_path / 'images' / 'a.jpg'), np.full((40, 50, 3), 128, np.uint8))
    instances = dict(
        images=[dict(id=7, file_name='a.jpg', height=40, width=50)],
        annotations=[dict(id=3, image_id=7, category_id=1, iscrowd=0,
                          segmentation=[[10, 10, 30, 10, 30, 30, 10, 30]], bbox=[10, 10, 20, 20],
                          area=400)],
        categories=[dict(id=1, name='thing')])
    refs = [dict(ref_id=1, ann_id=3, image_id=7, split='val',
                 sentences=[dict(sent='the red circle'), dict(sent='blue square')]),
            dict(ref_id=2, ann_id=3, image_id=7, split='train', sentences=[dict(sent='x')])]
    (tmp_path / 'instances.json').write_text(json.dumps(instances))
    (tmp_path / 'refs.json').write_text(json.dumps(refs))
    from cissreg.utils.word_tokenizer import build_word_tokenizer
    build_word_tokenizer(['the', 'red', 'circle', 'blue', 'square'], str(tmp_path / 'tok'))
    ds = DATASETS.build(dict(type='RefCocoRegionDataset', data_root=str(tmp_path),
                             refs_file='refs.json', instances_file='instances.json',
                             split='val', pipeline=PIPE(str(tmp_path / 'tok'))))
    assert len(ds) == 2
    s = ds[1]
    assert s['data_samples']['caption'] == 'blue square'
    assert torch.equal(s['img1'], s['img2']) and torch.equal(s['mask1'], s['mask2'])
    # the 20x20 polygon square, resized 50x40 -> 32x32
    assert 0.15 < float(s['mask1'].mean()) < 0.25
    with pytest.raises(FileNotFoundError, match='refs_file'):
        DATASETS.build(dict(type='RefCocoRegionDataset', data_root=str(tmp_path),
                            refs_file='nope.json', instances_file='instances.json'))
