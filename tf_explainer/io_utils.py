"""Writes that never leave a half-written file or folder behind."""

import dataclasses
import json
import os
import shutil


def write_text(path, text):
  """Writes `text` to `path` through a temporary file and a rename."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
  os.replace(tmp, path)
  return path


def write_json(path, value, **kwargs):
  """`write_text` of `json.dumps(value)`."""
  return write_text(path, json.dumps(value, indent=2, **kwargs))


def replace_dir(tmp, final):
  """Moves the complete folder `tmp` to `final`, replacing an existing `final`."""
  if os.path.exists(final):
    old = f"{final}.old-{os.getpid()}"
    os.rename(final, old)
    os.rename(tmp, final)
    shutil.rmtree(old)
  else:
    os.rename(tmp, final)
  return final


def dataclass_from_dict(cls, values, what):
  """`cls(**values)` that names unknown keys instead of a TypeError."""
  unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
  if unknown:
    raise ValueError(f"Unknown {what} keys {sorted(unknown)}.")
  return cls(**values)


# Every folder a writer of this package makes holds this file, naming the writer.
OWNER_FILE = ".tf_explainer.json"
# Files by which folders written before the owner file existed are recognised.
_LEGACY_FILES = {"dataset": ("images.txt",), "performer": ("performer.json", "backup"),
                 "explainer": ("explainer.json", "backup", "feature_cache"),
                 "evaluation": ("metrics.json",)}


def owner(path):
  """The writer (`"dataset"`, `"performer"`, ...) that made folder `path`, or `None`."""
  try:
    with open(os.path.join(path, OWNER_FILE)) as f:
      return json.load(f).get("kind")
  except (OSError, ValueError, AttributeError):
    return None


def claim_dir(path, kind, flag, overwrite=False, overwrite_means="write into it anyway"):
  """Makes `path` a folder of `kind`, refusing one that holds anything else.

  A missing or empty folder, or an earlier output of the same writer, is
  claimed (the owner file is written). A non-empty folder that some other
  writer or the user made is refused with a one-line error, unless
  `overwrite` (the user's `--overwrite`) says its files may be replaced.

  Raises:
    ValueError: naming `--<flag>=<path>` and what it holds.
  """
  if os.path.exists(path) and not os.path.isdir(path):
    raise ValueError(f"--{flag}={path} is a file, not a folder.")
  entries = os.listdir(path) if os.path.isdir(path) else []
  mine = owner(path) == kind or (
      OWNER_FILE not in entries and any(name in entries for name in _LEGACY_FILES.get(kind, ())))
  if entries and not mine and not overwrite:
    found = owner(path)
    what = f"the output of another step ({found})" if found else "files this tool did not write"
    raise ValueError(f"--{flag}={path} is not empty and holds {what} (e.g. "
                     f"{sorted(entries)[0]!r}); choose a new or empty folder, or pass "
                     f"--overwrite to {overwrite_means}.")
  os.makedirs(path, exist_ok=True)
  if owner(path) != kind:
    write_json(os.path.join(path, OWNER_FILE), {"kind": kind})
  return path
