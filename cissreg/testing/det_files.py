"""Tiny detection datasets in the real VOC and YOLO (ultralytics) file layouts."""
import json
import os

import cv2
import numpy as np

VOC_CLASSES = ('cat', 'dog', 'bird', 'fish')
YOLO_CLASSES = ('person', 'car', 'dog')


def voc_object(name, box, difficult=0):
    xmin, ymin, xmax, ymax = box
    return (f'  <object>\n    <name>{name}</name>\n    <difficult>{difficult}</difficult>\n'
            f'    <bndbox>\n      <xmin>{xmin}</xmin>\n      <ymin>{ymin}</ymin>\n'
            f'      <xmax>{xmax}</xmax>\n      <ymax>{ymax}</ymax>\n    </bndbox>\n'
            '  </object>\n')


def voc_xml(width, height, objects):
    return ('<annotation>\n  <filename>x.jpg</filename>\n'
            f'  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n'
            '    <depth>3</depth>\n  </size>\n' + ''.join(objects) + '</annotation>\n')


def write_voc(root, images, split='train'):
    """images: {id: (width, height, xml_text)} -> VOC folder under root."""
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for name, (w, h, xml) in images.items():
        cv2.imwrite(os.path.join(root, 'JPEGImages', f'{name}.jpg'),
                    np.full((h, w, 3), 90, np.uint8))
        with open(os.path.join(root, 'Annotations', f'{name}.xml'), 'w') as f:
            f.write(xml)
    with open(os.path.join(root, 'ImageSets', 'Main', f'{split}.txt'), 'w') as f:
        f.write(''.join(f'{n}\n' for n in images))
    return str(root)


def write_image(path, w, h):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 50, np.uint8))


def write_label(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def make_layout(root):
    """images/train/{a.jpg (64x32), b.png (40x40), c.jpg (16x16, no label)} + labels."""
    write_image(root / 'images/train/a.jpg', 64, 32)
    write_image(root / 'images/train/b.png', 40, 40)
    write_image(root / 'images/train/c.jpg', 16, 16)
    write_label(root / 'labels/train/a.txt', '1 0.5 0.5 0.25 0.5\n\n0 0.125 0.25 0.25 0.5\n')
    write_label(root / 'labels/train/b.txt', '2 0.3 0.6 0.2 0.1\n')
    return str(root)


COCO_CATEGORIES = [dict(id=7, name='zebra'), dict(id=1, name='ant'), dict(id=3, name='bee')]


def write_coco(root, annotations=None, images=None):
    """A COCO json (``ann.json``) and its black images under ``root/imgs``; returns both paths."""
    os.makedirs(root / 'imgs', exist_ok=True)
    images = images or [dict(id=10, file_name='p.jpg', width=50, height=40),
                        dict(id=20, file_name='q.jpg', width=30, height=30),
                        dict(id=30, file_name='r.jpg', width=20, height=20)]
    for img in images:
        cv2.imwrite(str(root / 'imgs' / img['file_name']),
                    np.zeros((img['height'], img['width'], 3), np.uint8))
    if annotations is None:
        annotations = [
            dict(id=1, image_id=10, category_id=7, bbox=[1, 2, 10, 5], iscrowd=0, area=50),
            dict(id=2, image_id=10, category_id=1, bbox=[5.5, 6, 4, 4.5], iscrowd=1, area=18),
            dict(id=3, image_id=20, category_id=3, bbox=[0, 0, 30, 30], iscrowd=0, area=900),
            dict(id=4, image_id=10, category_id=3, bbox=[20, 20, 8, 9], iscrowd=0, area=72),
        ]
    path = root / 'ann.json'
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=COCO_CATEGORIES), f,
                  indent=1)
    return str(root), str(path)
