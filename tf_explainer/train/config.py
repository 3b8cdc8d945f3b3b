"""Flags plus an optional JSON config file: strict, resolved, saved."""

import json
import os

import tensorflow as tf
from absl import flags

from tf_explainer import io_utils


def resolve(flag_values, config_path=None, names=None):
  """Merges a JSON config file under the command line; returns a plain dict.

  Values given on the command line win over the file; the file wins over flag
  defaults. Flags are never modified.

  Args:
    flag_values: parsed `absl.flags.FLAGS`.
    config_path: optional JSON file `{flag_name: value}`.
    names: the flag names of the script (the keys the result holds).

  Raises:
    ValueError: an unknown key, or a value of the wrong type, naming the file.
  """
  params = {name: flag_values[name].value for name in names}
  if not config_path:
    return params
  try:
    overrides = io_utils.read_json(config_path)
  except (OSError, json.JSONDecodeError, tf.errors.OpError) as e:
    raise ValueError(f"--config={config_path}: cannot read JSON ({e}).") from None
  if not isinstance(overrides, dict):
    raise ValueError(f"--config={config_path}: expected a JSON object of flag values.")
  for key, value in overrides.items():
    if key not in params or key == "config":
      raise ValueError(f"--config={config_path}: unknown key {key!r}; valid keys: "
                       f"{sorted(k for k in params if k != 'config')}.")
    if flag_values[key].present:
      continue
    params[key] = _parse(flag_values[key], key, value, config_path)
  return params


def _parse(flag, key, value, config_path):
  """One config value, typed as its flag; a one-line error names the file, key and type."""
  if value is None:  # a saved config writes an unset optional flag as null
    if flag.default is None:
      return None
    raise ValueError(f"--config={config_path}: {key} is null; expected "
                     f"{flag.flag_type()} (default {flag.default!r}).")
  if isinstance(value, bool):
    value = str(value).lower()
  elif isinstance(value, float) and flag.flag_type() == "int":
    if not value.is_integer():
      raise ValueError(f"--config={config_path}: bad value {value!r} for {key}; expected an "
                       f"integer.")
    value = int(value)
  elif isinstance(value, (int, float)):
    value = str(value)
  elif isinstance(value, list) and "list" not in flag.flag_type():
    raise ValueError(f"--config={config_path}: bad value {value!r} for {key}; expected "
                     f"{flag.flag_type()}, not a list.")
  try:
    return flag.parser.parse(value)
  except (ValueError, TypeError, flags.IllegalFlagValueError) as e:
    raise ValueError(f"--config={config_path}: bad value {value!r} for {key}; expected "
                     f"{flag.flag_type()} ({e}).") from None


def define_run_flags(kind):
  """The flags every training script shares about its output folder and input images.

  `--overwrite`, `--restart`, `--on_error` and `--config`; `kind` (`"performer"`,
  `"explainer"`) names the folder in the help. Returns the `--config` flag holder.
  """
  flags.DEFINE_boolean("overwrite", False, f"Write into a non-empty --model_dir that is not an "
                       f"earlier {kind} folder (refused otherwise).")
  flags.DEFINE_boolean("restart", False, "Start an interrupted run in --model_dir over instead "
                       "of resuming it (resuming under other settings is refused).")
  flags.DEFINE_enum("on_error", "fail", ["fail", "skip"], "An image that cannot be decoded: "
                    "fail with its name, or skip it (and say how many).")
  return flags.DEFINE_string("config", None, "Optional JSON file of flag values.")


RUN_FLAG_NAMES = ("overwrite", "restart", "on_error")


def save(params, directory, name="config.json"):
  """Writes the resolved configuration into `directory` atomically."""
  io_utils.makedirs(directory)
  return io_utils.write_json(os.path.join(directory, name), params, sort_keys=True, default=str)
