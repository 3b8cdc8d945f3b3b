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
