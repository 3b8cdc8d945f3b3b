"""Pascal-Part annotations with VOC2010 images, as a `PartDataset`.

Pascal-Part stores one `.mat` file per image (`Annotations_Part/<id>.mat`)
holding `anno.objects`, each with `class`, `mask` and `parts` (each part with
`part_name` and `mask`). Following the paper, every object of the six animal
categories becomes one record (cropped by the box around its mask), with the
head, neck and torso landmarks at the centres of their part masks. The head
includes its sub-parts (eyes, ears, nose, muzzle, beak, horns). A landmark
whose part is missing, or annotated more than once on one object, is NaN.
"""

import os

import numpy as np

from tf_explainer.data.cub import DatasetError, PartDataset

ANIMALS = ("bird", "cat", "cow", "dog", "horse", "sheep")
LANDMARKS = ("head", "neck", "torso")
HEAD_PARTS = ("head", "leye", "reye", "lear", "rear", "nose", "muzzle", "beak", "lhorn", "rhorn")


def _as_list(value):
  if value is None:
    return []
  if isinstance(value, np.ndarray):
    return list(value.ravel())
  return [value]


def _centre(mask):
  rows, cols = np.nonzero(mask)
  return (float(rows.mean()), float(cols.mean())) if len(rows) else (np.nan, np.nan)


def objects_of(path):
  """`(class name, object mask, {part name: [masks]})` of every object in one `.mat` file."""
  from scipy import io

  try:
    anno = io.loadmat(path, squeeze_me=True, struct_as_record=False)["anno"]
  except (OSError, ValueError, KeyError, TypeError, NotImplementedError) as e:
    raise DatasetError(f"{path}: not a Pascal-Part annotation file ({e}).") from None
  result = []
  for obj in _as_list(getattr(anno, "objects", None)):
    parts = {}
    for part in _as_list(getattr(obj, "parts", None)):
      if hasattr(part, "part_name"):
        parts.setdefault(str(part.part_name), []).append(np.asarray(part.mask, bool))
    result.append((str(obj.__dict__["class"]), np.asarray(obj.mask, bool), parts))
  return result


def landmarks_of(parts):
  """Head, neck, torso centres (row, col) of one object; NaN where missing or repeated."""
  out = np.full((len(LANDMARKS), 2), np.nan, np.float32)
  head = [m for name in HEAD_PARTS for m in parts.get(name, [])]
  if len(parts.get("head", [])) <= 1 and head:
    out[0] = _centre(np.any(head, axis=0))
  for k, name in ((1, "neck"), (2, "torso")):
    if len(parts.get(name, [])) == 1:
      out[k] = _centre(parts[name][0])
  return out


def read_pascal_part(annotation_dir, voc_root, categories=ANIMALS, train_ids=None):
  """Reads Pascal-Part objects of `categories` into a `PartDataset`.

  Args:
    annotation_dir: folder of `<image id>.mat` files.
    voc_root: VOC2010 root holding `JPEGImages/<image id>.jpg` (and
      `ImageSets/Main/train.txt`, used for the split when present).
    categories: class names kept, in label order.
    train_ids: optional set of image ids of the training split.
  """
  if not os.path.isdir(annotation_dir):
    raise DatasetError(f"{annotation_dir}: Pascal-Part annotation folder does not exist.")
  if train_ids is None:
    split_file = os.path.join(voc_root, "ImageSets", "Main", "train.txt")
    if os.path.exists(split_file):
      with open(split_file) as f:
        train_ids = {line.split()[0] for line in f if line.strip()}
  rows = []
  for name in sorted(os.listdir(annotation_dir)):
    if not name.endswith(".mat"):
      continue
    image_id = name[:-4]
    image = os.path.join(voc_root, "JPEGImages", f"{image_id}.jpg")
    for cls, mask, parts in objects_of(os.path.join(annotation_dir, name)):
      if cls not in categories or not mask.any():
        continue
      if not os.path.exists(image):
        raise DatasetError(f"{image}: image of {os.path.join(annotation_dir, name)} is missing.")
      r, c = np.nonzero(mask)
      box = (c.min(), r.min(), c.max() - c.min() + 1, r.max() - r.min() + 1)
      is_train = True if train_ids is None else image_id in train_ids
      rows.append((image, categories.index(cls), box, landmarks_of(parts), is_train))
  n = len(rows)
  return PartDataset(
    root=os.path.abspath(annotation_dir),
    image_ids=np.arange(1, n + 1, dtype=np.int64),
    image_paths=np.array([os.path.abspath(r[0]) for r in rows]),
    labels=np.array([r[1] for r in rows], np.int32),
    class_names=np.array(categories),
    boxes=np.array([r[2] for r in rows], np.float32).reshape(n, 4),
    landmarks=np.array([r[3] for r in rows], np.float32).reshape(n, len(LANDMARKS), 2),
    part_names=np.array(LANDMARKS),
    is_train=np.array([r[4] for r in rows], bool),
  )
