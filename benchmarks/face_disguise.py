"""Converts photos 1-1000 of the Face Disguise Dataset into the CUB layout.

The dataset (Singh, Patil, Reddy and Omkar, "Disguised Face Identification (DFI)
with Facial KeyPoints using Spatial Fusion Convolutional Network", ICCVW 2017;
github.com/DevendraPatil/Face-Disguise-Dataset) holds 1920 x 1080 outdoor photos
of 25 people in 10 disguises, with 14 facial landmarks each in `joints.mat`.
Photos 1001-2000 are kept for an outside check: this converter refuses them and
never opens their files.

Each photo gives two square crops, written at `--side` pixels:

* a **face** crop around the landmarks, with context (`--context` times the
  landmarks' extent) and jittered in scale and place (`--jitter`), so that the
  parts do not sit at fixed places of the crop;
* a **background** crop of the same size from the same photo, away from the
  face, as a negative.

Five parts come from the landmarks: right eye, left eye (the subject's; the
middle point of each), brows (the midpoint of the inner eyebrow points), nose
(tip) and mouth (lip middle). The split is by photo: both crops of a photo are
in the same split, `--test_fraction` of the photos (by the SHA-256 of their
number) in the test split. The validation split is carved from the training
split by the pipeline, as for every dataset.

    python -m benchmarks.face_disguise --source_dir=<checkout> --out_dir=runs/faces/data

`<checkout>` holds `Complex Background (1-1000) images/` and `joints.mat`
(`git archive HEAD "Complex Background (1-1000) images" joints.mat` of the
dataset's repository).
"""

import hashlib
import os

import numpy as np
from absl import flags
from PIL import Image

from tf_explainer import cli, io_utils

FIRST_RESERVED_PHOTO = 1001
PHOTO_FOLDER = "Complex Background (1-1000) images"
PARTS = ("right eye", "left eye", "brows", "nose", "mouth")
CLASSES = ("face", "background")

_SOURCE_DIR = flags.DEFINE_string("source_dir", None, "Folder with joints.mat and the photos.")
_OUT_DIR = flags.DEFINE_string("out_dir", None, "Output CUB-layout root.")
_PHOTOS = flags.DEFINE_integer("photos", 1000, "Photos 1..N to convert (at most 1000).", 1)
_SIDE = flags.DEFINE_integer("side", 256, "Side of the written crops, pixels.", 32)
_CONTEXT = flags.DEFINE_float("context", 2.0, "Crop side over the landmarks' extent.", 1.0)
_JITTER = flags.DEFINE_float(
  "jitter", 0.15, "Scale and shift jitter, as a fraction of the crop side.", 0.0
)
_TEST_FRACTION = flags.DEFINE_float("test_fraction", 0.3, "Share of photos in the test split.", 0)
_SEED = flags.DEFINE_integer("seed", 0, "Seeds the jitter and the background crops.")


def part_points(joints):
  """`(5, 2)` (x, y) of `PARTS` from one photo's 14 landmarks `(14, 2)` (x, y)."""
  joints = np.asarray(joints, np.float64)
  return np.stack(
    [
      joints[5],  # right eye, middle
      joints[8],  # left eye, middle
      (joints[1] + joints[2]) / 2,  # inner eyebrow points
      joints[10],  # nose tip
      joints[12],  # lip middle
    ]
  )


def face_box(joints, context, jitter, rng):
  """`(x0, y0, side)` of a jittered square around the landmarks, in photo pixels."""
  low, high = joints.min(0), joints.max(0)
  side = context * float(np.max(high - low)) * (1 + rng.uniform(-jitter, jitter))
  centre = (low + high) / 2 + rng.uniform(-jitter, jitter, 2) * side
  return centre[0] - side / 2, centre[1] - side / 2, side


def background_box(face, width, height, rng, tries=100):
  """A square of the face crop's side that does not overlap it, or `None`."""
  fx, fy, side = face
  for _ in range(tries):
    x, y = rng.uniform(0, width - side), rng.uniform(0, height - side)
    if x + side <= fx or fx + side <= x or y + side <= fy or fy + side <= y:
      return x, y, side
  return None


def crop(image, box, out_side):
  """The square `box` of `image` (zero-padded outside it), resized to `out_side`."""
  x0, y0, side = box
  return image.transform(
    (out_side, out_side), Image.EXTENT, (x0, y0, x0 + side, y0 + side), Image.BILINEAR
  )


def is_test(photo, fraction):
  """Whether `photo` is a test photo: the low `fraction` of SHA-256 hashes."""
  digest = hashlib.sha256(f"photo-{photo}".encode()).digest()
  return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def read_joints(source_dir, photos):
  """`(photos, 14, 2)` (x, y) landmarks of photos 1..`photos` of `joints.mat`."""
  from scipy import io as scipy_io

  path = os.path.join(source_dir, "joints.mat")
  try:
    joints = scipy_io.loadmat(path)["joints"]
  except (OSError, KeyError, ValueError) as e:
    raise ValueError(f"--source_dir: cannot read a joints array from {path} ({e}).") from None
  if joints.ndim != 3 or joints.shape[:2] != (14, 2):
    raise ValueError(f"--source_dir: {path} holds {joints.shape}; expected (14, 2, photos).")
  return np.transpose(joints[:, :, :photos], (2, 0, 1)).astype(np.float64)


def convert(
  source_dir, out_dir, photos=1000, side=256, context=2.0, jitter=0.15, test_fraction=0.3, seed=0
):
  """Writes the CUB layout; returns `(face crops, background crops)` written."""
  if photos >= FIRST_RESERVED_PHOTO:
    raise ValueError(f"--photos={photos}: photos 1001-2000 are reserved; at most 1000.")
  joints = read_joints(source_dir, photos)
  rng = np.random.default_rng(seed)
  rows = {name: [] for name in ("images", "labels", "boxes", "split", "parts")}
  for directory in CLASSES:
    io_utils.makedirs(os.path.join(out_dir, "images", directory))
  counts = [0, 0]
  for photo in range(1, photos + 1):
    path = os.path.join(source_dir, PHOTO_FOLDER, f"{photo}.jpg")
    try:
      image = Image.open(path).convert("RGB")
    except OSError as e:
      raise ValueError(f"--source_dir: cannot read photo {path} ({e}).") from None
    face = face_box(joints[photo - 1], context, jitter, rng)
    boxes = [face, background_box(face, image.width, image.height, rng)]
    test = is_test(photo, test_fraction)
    for label, box in enumerate(boxes):
      if box is None:
        continue
      image_id = 2 * photo - 1 + label
      relative = f"{CLASSES[label]}/{photo:04d}.jpg"
      crop(image, box, side).save(os.path.join(out_dir, "images", relative), quality=92)
      counts[label] += 1
      rows["images"].append(f"{image_id} {relative}")
      rows["labels"].append(f"{image_id} {label + 1}")
      rows["boxes"].append(f"{image_id} 0 0 {side} {side}")
      rows["split"].append(f"{image_id} {0 if test else 1}")
      points = (part_points(joints[photo - 1]) - np.array(box[:2])) * side / box[2]
      for k, (x, y) in enumerate(points):
        visible = label == 0 and 0 <= x < side and 0 <= y < side
        x, y = (x, y) if visible else (0.0, 0.0)
        rows["parts"].append(f"{image_id} {k + 1} {x:.1f} {y:.1f} {int(visible)}")
  files = {
    "images.txt": rows["images"],
    "image_class_labels.txt": rows["labels"],
    "classes.txt": [f"{i + 1} {name}" for i, name in enumerate(CLASSES)],
    "bounding_boxes.txt": rows["boxes"],
    "train_test_split.txt": rows["split"],
    "parts/parts.txt": [f"{k + 1} {name}" for k, name in enumerate(PARTS)],
    "parts/part_locs.txt": rows["parts"],
  }
  io_utils.makedirs(os.path.join(out_dir, "parts"))
  for name, lines in files.items():
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
      f.write("\n".join(lines) + "\n")
  return tuple(counts)


def main(_):
  if not _SOURCE_DIR.value or not _OUT_DIR.value:
    raise ValueError("--source_dir and --out_dir are required.")
  faces, backgrounds = convert(
    _SOURCE_DIR.value,
    _OUT_DIR.value,
    _PHOTOS.value,
    _SIDE.value,
    _CONTEXT.value,
    _JITTER.value,
    _TEST_FRACTION.value,
    _SEED.value,
  )
  print(f"Wrote {faces} face and {backgrounds} background crops to {_OUT_DIR.value}.")


if __name__ == "__main__":
  cli.run(main, ("out_dir",))
