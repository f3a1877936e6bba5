"""CIFAR-100 files in the python pickle layout, written for tests."""
import pickle

import numpy as np


def write_cifar(root, labels_by_split):
    """The python layout of cifar-100-python.tar.gz (pickled dicts with bytes keys)."""
    folder = root / 'cifar-100-python'
    folder.mkdir(parents=True)
    names = [f'class_{i}'.encode() for i in range(100)]
    names[3] = b'aquarium_fish'
    with open(folder / 'meta', 'wb') as f:
        pickle.dump({b'fine_label_names': names, b'coarse_label_names': [b'x'] * 20}, f,
                    protocol=2)
    images = {}
    for split, labels in labels_by_split.items():
        rng = np.random.RandomState(len(labels))
        data = rng.randint(0, 256, (len(labels), 3072)).astype(np.uint8)
        images[split] = data
        with open(folder / split, 'wb') as f:
            pickle.dump({b'batch_label': split.encode(), b'fine_labels': labels,
                         b'coarse_labels': [0] * len(labels), b'data': data,
                         b'filenames': [f'img_{i}.png'.encode() for i in range(len(labels))]},
                        f, protocol=2)
    return images
