"""COCO RLE encode / decode against pycocotools."""
import numpy as np
import pytest

from cissreg.testing.reference import require
from cissreg.utils.rle import (counts_to_string, polygons_to_mask, rle_area, rle_decode, rle_encode,
                               string_to_counts)


def _masks():
    rng = np.random.default_rng(0)
    yield np.zeros((7, 5), np.uint8)
    yield np.ones((6, 9), np.uint8)
    m = np.zeros((40, 33), np.uint8)
    m[3:20, 5:30] = 1
    yield m
    for _ in range(5):
        yield (rng.random((int(rng.integers(1, 70)), int(rng.integers(1, 70)))) > 0.5).astype(
            np.uint8)
    big = np.zeros((300, 400), np.uint8)
    big[10:290, 17:380] = 1  # long runs: multi-group counts and negative differences
    big[100:120, :] = 0
    yield big


@pytest.mark.parametrize('k', range(9))
def test_encode_decode_match_pycocotools(k):
    mask_utils = require('pycocotools.mask')
    mask = list(_masks())[k]
    ours = rle_encode(mask)
    ref = mask_utils.encode(np.asfortranarray(mask))
    assert ours['size'] == list(ref['size'])
    assert ours['counts'] == ref['counts'].decode('ascii')
    assert np.array_equal(rle_decode(ours), mask)
    assert np.array_equal(rle_decode(ref), mask)
    assert rle_area(ours) == int(mask_utils.area(ref)) == int(mask.sum())


def test_uncompressed_counts_and_round_trip_of_counts():
    counts = [0, 5, 1000, 3, 70000, 2]
    assert string_to_counts(counts_to_string(counts)) == counts
    m = rle_decode({'size': [2, 3], 'counts': [1, 2, 3]})
    assert m.tolist() == [[0, 1, 0], [1, 0, 0]]  # column-major: 0 | 1 1 | 0 0 0
    with pytest.raises(ValueError, match='expected 2 x 3'):
        rle_decode({'size': [2, 3], 'counts': [1, 2]})


def test_polygon_rasterisation_close_to_pycocotools():
    mask_utils = require('pycocotools.mask')
    poly = [[10.0, 10.0, 50.0, 12.0, 40.0, 45.0, 12.0, 40.0]]
    ours = polygons_to_mask(poly, 60, 64)
    ref = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, 60, 64)))
    iou = (ours & ref).sum() / (ours | ref).sum()
    assert iou > 0.98
