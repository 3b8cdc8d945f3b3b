"""Files and folders through `tf.io.gfile`, and writes that never leave half a file behind.

Every path the scripts read or write goes through here, so model, evaluation
and export folders may be local paths or any filesystem TensorFlow knows
(`gs://`, `s3://` with the plugins, `ram://` in the tests), as in every
TensorFlow tool.
"""

import dataclasses
import json
import os
import re
import sys

import tensorflow as tf

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def without_tf_wrapping(text):
  """`text` (an error's message) without TensorFlow's `{{function_node ...}}` and `[Op:...]`
  wrapping around the words of the system or decoder; `text` itself if nothing is left."""
  plain = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:[^\]]*\].*$", "", text).strip()
  return plain or text


def is_url(path):
  """Whether `path` names a filesystem other than the local one (`gs://...`, `ram://...`)."""
  return bool(_URL.match(str(path)))


def absolute(path):
  """`os.path.abspath` for local paths; URLs unchanged."""
  return path if is_url(path) else os.path.abspath(path)


def exists(path):
  return tf.io.gfile.exists(path)


def isdir(path):
  return tf.io.gfile.isdir(path)


def listdir(path):
  """Entry names of a folder, without the trailing slash some filesystems add."""
  return [name.rstrip("/") for name in tf.io.gfile.listdir(path)]


def makedirs(path):
  tf.io.gfile.makedirs(path)


def rmtree(path):
  """Removes a folder and its contents if it exists."""
  try:
    tf.io.gfile.rmtree(path)
  except tf.errors.NotFoundError:
    pass


def rename(source, target):
  """Renames a file or folder; replaces a file `target` (atomic on local disks)."""
  if not is_url(source) and not is_url(target):
    os.replace(source, target)
  else:
    tf.io.gfile.rename(source, target, overwrite=True)


def open_file(path, mode="r"):
  return tf.io.gfile.GFile(path, mode)


def read_json(path):
  """The JSON value in `path`.

  Raises:
    ValueError: one line naming the file when it is not valid JSON (truncated or
      damaged), which `json` would report by line and column alone.
  """
  with tf.io.gfile.GFile(path) as f:
    text = f.read()
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is damaged or truncated: not valid JSON ({e}).") from None


def fingerprint(path):
  """`"<size>:<mtime>"` of a file, or `None`: tells a rewritten file."""
  try:
    status = tf.io.gfile.stat(path)
  except tf.errors.NotFoundError:
    return None
  return f"{status.length}:{status.mtime_nsec}"


def write_atomically(path, data, mode="w"):
  """Writes `data` to `path` through a temporary file and a rename; on any failure (a
  full disk, a read-only folder) the temporary file is removed and `path` is untouched."""
  tmp = f"{path}.tmp-{os.getpid()}"
  try:
    with tf.io.gfile.GFile(tmp, mode) as f:
      f.write(data)
    rename(tmp, path)
  except BaseException:
    try:
      if tf.io.gfile.exists(tmp):
        tf.io.gfile.remove(tmp)
    except (OSError, tf.errors.OpError):
      pass
    raise
  return path


def write_text(path, text):
  """Writes `text` to `path` through a temporary file and a rename (`write_atomically`)."""
  return write_atomically(path, text)


def write_json(path, value, **kwargs):
  """`write_text` of `json.dumps(value)`."""
  return write_text(path, json.dumps(value, indent=2, **kwargs))


def copy_tree(source, target):
  """Copies folder `source` to `target` file by file (object stores cannot rename folders)."""
  for folder, _, files in tf.io.gfile.walk(source):
    relative = folder[len(source) :].lstrip("/")
    destination = os.path.join(target, relative) if relative else target
    tf.io.gfile.makedirs(destination)
    for name in files:
      tf.io.gfile.copy(os.path.join(folder, name), os.path.join(destination, name), overwrite=True)


def replace_dir(tmp, final):
  """Moves the complete folder `tmp` to `final`, replacing an existing `final`.

  Atomic on local disks (two renames). Other filesystems cannot rename a
  folder: there the old `final` is removed and `tmp` copied over.
  """
  if is_url(tmp) or is_url(final):
    rmtree(final)
    copy_tree(tmp, final)
    rmtree(tmp)
    return final
  if exists(final):
    old = f"{final}.old-{os.getpid()}"
    rename(final, old)
    rename(tmp, final)
    rmtree(old)
  else:
    rename(tmp, final)
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
_LEGACY_FILES = {
  "dataset": ("images.txt",),
  "performer": ("performer.json", "backup"),
  "explainer": ("explainer.json", "backup", "feature_cache"),
  "evaluation": ("metrics.json",),
}


def owner(path, key="kind"):
  """The writer (`"dataset"`, `"performer"`, ...) that made folder `path`, or `None`.

  `key` reads another entry of the owner file instead (a dataset's `"corpus"`).
  """
  try:
    return read_json(os.path.join(path, OWNER_FILE)).get(key)
  except (OSError, ValueError, AttributeError, tf.errors.OpError):
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
  if exists(path) and not isdir(path):
    raise ValueError(f"{flag}={path} is a file, not a folder.")
  entries = listdir(path) if isdir(path) else []
  mine = owner(path) == kind or (
    OWNER_FILE not in entries and any(name in entries for name in _LEGACY_FILES.get(kind, ()))
  )
  if entries and not mine and not overwrite:
    found = owner(path)
    what = f"the output of another step ({found})" if found else "files this tool did not write"
    raise ValueError(
      f"{flag}={path} is not empty and holds {what} (e.g. "
      f"{sorted(entries)[0]!r}); choose a new or empty folder, or pass "
      f"`overwrite` to {overwrite_means}."
    )
  makedirs(path)
  if owner(path) != kind:
    write_json(os.path.join(path, OWNER_FILE), {"kind": kind})
  return path


def progress_verbosity(verbose):
  """Keras's `verbose` for `fit` and `Progbar`: bars on a terminal, one line per epoch in a log.

  A progress bar rewrites its line with control codes; written to a file, every
  update stays, and a demo's log grew to 1.4 MB of them.
  """
  if verbose == 1 and not sys.stdout.isatty():
    return 2
  return verbose
