"""One dataclass per program: the single list of its settings.

Each program (train a performer, distil an explainer, evaluate, export, the
demo, pretraining) declares its settings once, as a dataclass derived from
`Settings` whose fields are made with `setting`: name, type (the annotation),
default, help, choices and bounds. From it come

* the library call: `run(**settings)` builds the dataclass, whose
  `__post_init__` (from `Settings`) calls `validate`, so a bad value is refused with a one-line
  error naming the parameter (`batch_size=0: expected at least 1`);
* the absl flags of the program (`define_flags`), with the same names,
  defaults and help, plus `--config`, a JSON file of flag values;
* the resolved settings of a command line (`from_flags`): flags given on the
  command line win over the `--config` file, which wins over the defaults.

This module and `tf_explainer.configs`, where the dataclasses live, import no
TensorFlow, so that a program's `--help` answers at once.

The command-line wrapper (`tf_explainer.cli.run`) writes a parameter that is
a flag as the flag in its error line (`--batch_size=0`).
"""

import dataclasses
import json
import math
import os
import re
import sys
import typing

from absl import flags

_NONE = type(None)


class Settings:
  """Base of every settings dataclass: its values are checked as it is made."""

  def __post_init__(self):
    validate(self)


# The module the flags of research variants are registered under: `--help` lists the main
# program's flags only, `--helpfull` these too.
ABLATIONS_MODULE = "tf_explainer.ablations"


def setting(
  default=None,
  help="",
  *,
  choices=None,
  lower_bound=None,
  required=False,
  flag=True,
  ablation=False,
):
  """A dataclass field with what its flag and its check need.

  Args:
    default: the default value (immutable).
    help: one sentence for `--help`.
    choices: the allowed values, if only some are.
    lower_bound: the smallest allowed number.
    required: the value may not stay `None`.
    flag: `False` for settings only a library caller can give (callbacks,
      verbosity).
    ablation: a research variant or reference setting, not one a user needs:
      its flag is shown by `--helpfull`, not `--help`.
  """
  return dataclasses.field(
    default=default,
    metadata={
      "help": help,
      "choices": tuple(choices) if choices else None,
      "lower_bound": lower_bound,
      "required": required,
      "flag": flag,
      "ablation": ablation,
    },
  )


def group(cls, help="", *, hidden=False, prefix="", only=None, defaults=None, helps=None):
  """A field holding a group of settings, itself a `Settings` dataclass (`cls`).

  A program's settings nest in groups (paths, loss, runtime, ...), in the style of the
  TensorFlow Model Garden, while their flags and library keywords stay flat: each
  setting of a group is the flag of its own name, so names are unique across groups.
  `config.json` is written nested (`{"loss": {"lambda_f_divisor": 300.0}, ...}`).
  Groups nest one level deep.

  Args:
    cls: the group's dataclass, which may be another program's (the demo nests the
      performer's training settings, not a copy of them).
    help: what the group holds.
    hidden: list the group's flags under `--helpfull` only (the research variants).
    prefix: put before each setting's name in its flag and keyword
      (`prefix="performer_"`: `--performer_epochs` sets the group's `epochs`).
    only: the names of the group's settings this program offers; the others keep
      their defaults.
    defaults, helps: this program's defaults and help lines for some of the settings.
  """
  defaults = dict(defaults or {})
  return dataclasses.field(
    default_factory=lambda: cls(**defaults),
    metadata={
      "group": cls,
      "help": help,
      "hidden": hidden,
      "prefix": prefix,
      "only": tuple(only) if only is not None else None,
      "defaults": defaults,
      "helps": dict(helps or {}),
    },
  )


class _Leaf(typing.NamedTuple):
  """One setting of a program, as its flag sees it."""

  name: str  # the flag's and keyword's name (with the group's prefix)
  key: str  # the name in its own dataclass
  group: typing.Optional[str]  # the group field holding it, or None
  field: dataclasses.Field
  kind: type
  optional: bool
  default: typing.Any
  help: str
  hidden: bool


def _leaves(cls):
  """Every setting of `cls`, its groups' included, in order."""
  hints = typing.get_type_hints(cls)
  found = []
  for f in dataclasses.fields(cls):
    meta = f.metadata
    if "group" in meta:
      for leaf in _leaves(meta["group"]):
        if meta["only"] is not None and leaf.name not in meta["only"]:
          continue
        found.append(
          leaf._replace(
            name=meta["prefix"] + leaf.name,
            group=f.name,
            default=meta["defaults"].get(leaf.name, leaf.default),
            help=meta["helps"].get(leaf.name, leaf.help),
            hidden=leaf.hidden or meta["hidden"],
          )
        )
    else:
      kind, optional = _kind(hints[f.name])
      found.append(
        _Leaf(
          f.name,
          f.name,
          None,
          f,
          kind,
          optional,
          f.default,
          meta.get("help", ""),
          bool(meta.get("ablation")),
        )
      )
  return found


def _groups(cls):
  """`{name: metadata}` of the group fields of `cls`."""
  return {f.name: f.metadata for f in dataclasses.fields(cls) if "group" in f.metadata}


def leaf_names(cls):
  """The names of every setting of `cls`, those in its groups included, in order."""
  return tuple(leaf.name for leaf in _leaves(cls))


def build(cls, values):
  """An instance of `cls` from settings by name: flat (`{"model_dir": ...}`, as flags and
  library keywords give them) or nested by group (`{"paths": {"model_dir": ...}}`).

  Raises:
    ValueError: one line naming an unknown setting, or a bad value by its flag's name.
  """
  values = dict(values)
  leaves = _leaves(cls)
  groups = _groups(cls)
  unknown = sorted(set(values) - {leaf.name for leaf in leaves} - set(groups))
  if unknown:
    raise ValueError(
      f"`{unknown[0]}` is not a setting of {cls.__name__}: expected one of "
      f"{sorted(leaf.name for leaf in leaves)}."
    )
  kwargs = {}
  for f in dataclasses.fields(cls):
    if f.name in groups:
      meta = groups[f.name]
      sub = dict(values.get(f.name) or {})
      mine = [leaf for leaf in leaves if leaf.group == f.name]
      sub.update({leaf.key: values[leaf.name] for leaf in mine if leaf.name in values})
      try:
        kwargs[f.name] = build(meta["group"], {**meta["defaults"], **sub})
      except ValueError as e:  # name the setting as the program does
        message = str(e)
        for leaf in mine:
          message = re.sub(rf"^(`?){leaf.key}(?=[=`])", rf"\g<1>{leaf.name}", message)
        raise ValueError(message) from None
    elif f.name in values:
      kwargs[f.name] = values[f.name]
  return cls(**kwargs)


def flat(instance):
  """`{name: value}` of every setting of `instance`, its groups' included."""
  values = {}
  for f in dataclasses.fields(instance):
    value = getattr(instance, f.name)
    meta = f.metadata
    if "group" in meta:
      values.update(
        {
          meta["prefix"] + name: item
          for name, item in flat(value).items()
          if meta["only"] is None or name in meta["only"]
        }
      )
    else:
      values[f.name] = value
  return values


def holder(instance, name):
  """The object that holds the setting `name` (unprefixed) of `instance`: itself or one of
  its groups."""
  for f in dataclasses.fields(instance):
    value = getattr(instance, f.name)
    if "group" in f.metadata and name in leaf_names(type(value)):
      return holder(value, name)
    if f.name == name:
      return instance
  raise KeyError(name)


def fill_unset(instance, values):
  """Sets each setting of `values` (flat names) that `instance` leaves unset (`None`)."""
  for name, value in values.items():
    owner = holder(instance, name)
    if getattr(owner, name) is None:
      setattr(owner, name, value)


def nested(cls, values):
  """Flat `values` of `cls`'s settings, nested by group as `config.json` holds them."""
  out = {}
  leaves = _leaves(cls)
  for f in dataclasses.fields(cls):
    if "group" in f.metadata:
      mine = [leaf for leaf in leaves if leaf.group == f.name]
      out[f.name] = {leaf.key: values[leaf.name] for leaf in mine if leaf.name in values}
    elif f.name in values:
      out[f.name] = values[f.name]
  return out


def overwrite_setting(folder, kind):
  """`overwrite`: write into a non-empty `folder` this program did not write."""
  return setting(
    False,
    f"Write into a non-empty {folder} that is not an earlier {kind} folder (refused otherwise).",
  )


def restart_setting():
  """`restart`: start an interrupted run over instead of resuming it."""
  return setting(
    False,
    "Start an interrupted run in model_dir over instead of resuming it (resuming under other "
    "settings is refused).",
  )


# What an image that cannot be decoded does, and the splits a model may train on (the data
# pipeline's; defined here, below it, so that settings import nothing above them).
ON_ERROR = ("fail", "skip")
TRAIN_SPLITS = ("train", "train_without_validation")


def on_error_setting():
  """`on_error`: what an image that cannot be decoded does."""
  return setting(
    "fail",
    "An image that cannot be decoded: fail with its name, or skip it (and say how many).",
    choices=ON_ERROR,
  )


def deterministic_setting():
  """`deterministic`: TensorFlow's deterministic kernels."""
  return setting(
    False,
    "TensorFlow's deterministic kernels: two runs with one seed give identical results (see "
    "docs/research-log.md for the cost).",
  )


LEARNING_RATE_SCHEDULES = ("constant", "cosine")


def learning_rate_schedule_setting(default="constant", help=None):
  """`learning_rate_schedule`: how a performer's Adam rate moves over its run."""
  return setting(
    default,
    help
    or "constant: learning_rate throughout; cosine: from learning_rate down to 0 over `epochs` "
    "(keras.optimizers.schedules.CosineDecay; a resumed run must keep its epochs).",
    choices=LEARNING_RATE_SCHEDULES,
  )


def train_split_setting():
  """`train_split`: the training split, or it less the validation split while tuning."""
  return setting(
    "train",
    "Images to train on: the training split, or the training split less the validation split "
    "(which the run then watches instead of the test split), while settings are chosen.",
    choices=TRAIN_SPLITS,
  )


def callbacks_setting():
  """`extra_callbacks`: Keras callbacks a library caller adds."""
  return setting((), "More Keras callbacks.", flag=False)


def verbose_setting():
  """`verbose`: a library caller's choice of output."""
  return setting(1, "0: silent; 1: progress bars.", flag=False)


def _kind(annotation):
  """`(base type, optional)` of a field's annotation: `Optional[int]` -> `(int, True)`."""
  args = typing.get_args(annotation)
  if typing.get_origin(annotation) is typing.Union:
    kinds = [a for a in args if a is not _NONE]
    return (str if len(kinds) > 1 else kinds[0]), _NONE in args
  return annotation, False


def fields(cls):
  """`(field, base type, optional)` of each of `cls`'s own settings (not its groups')."""
  hints = typing.get_type_hints(cls)
  return [(f, *_kind(hints[f.name])) for f in dataclasses.fields(cls) if "group" not in f.metadata]


def _hidden(cls):
  """The names of the settings whose flags `--help` leaves out (`--helpfull` lists them)."""
  return {leaf.name for leaf in _leaves(cls) if leaf.hidden}


def validate(instance):
  """Checks every setting's type, choices and bounds; coerces ints given for floats.

  Raises:
    ValueError: one line naming the parameter, its value and what was expected.
  """
  for field, kind, _ in fields(type(instance)):  # each group checks its own as it is made
    meta, name = field.metadata, field.name
    value = getattr(instance, name)
    if value is None:
      if meta.get("required"):
        raise ValueError(f"`{name}` is required.")
      continue
    if kind is bool and not isinstance(value, bool):
      raise ValueError(f"{name}={value}: expected true or false.")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
      raise ValueError(f"{name}={value}: expected an integer.")
    if kind is float:
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name}={value}: expected a number.")
      object.__setattr__(instance, name, float(value))
      value = float(value)
      if not math.isfinite(value):
        raise ValueError(f"{name}={value}: expected a finite number.")
    if meta.get("choices") and value not in meta["choices"]:
      raise ValueError(f"{name}={value}: expected one of {', '.join(map(str, meta['choices']))}.")
    bound = meta.get("lower_bound")
    if bound is not None and kind in (int, float) and value < bound:
      raise ValueError(f"{name}={value}: expected at least {bound}.")


def _flag_leaves(cls):
  return [leaf for leaf in _leaves(cls) if leaf.field.metadata.get("flag", True)]


def define_flags(cls, flag_values=flags.FLAGS, config=True):
  """Defines an absl flag per setting of `cls` (and `--config` unless `config=False`);
  returns the names."""
  names = []
  # Registered as the main program's flags, so that --helpshort lists them.
  module = sys.argv[0] if sys.argv and sys.argv[0] else None
  for leaf in _flag_leaves(cls):
    meta, name, default, kind, help = (
      leaf.field.metadata,
      leaf.name,
      leaf.default,
      leaf.kind,
      leaf.help,
    )
    owner = ABLATIONS_MODULE if leaf.hidden else module
    kwargs = {"flag_values": flag_values, "module_name": owner}
    if meta.get("choices"):
      flags.DEFINE_enum(name, default, [str(c) for c in meta["choices"]], help, **kwargs)
    elif kind is bool:
      flags.DEFINE_boolean(name, default, help, **kwargs)
    elif kind is int:
      flags.DEFINE_integer(name, default, help, lower_bound=meta.get("lower_bound"), **kwargs)
    elif kind is float:
      flags.DEFINE_float(name, default, help, lower_bound=meta.get("lower_bound"), **kwargs)
    else:
      flags.DEFINE_string(name, None if default is None else str(default), help, **kwargs)
    names.append(name)
  if not config:
    return tuple(names)
  flags.DEFINE_string(
    "config",
    None,
    "Optional JSON file of flag values (a saved config.json "
    "works); flags on the command line win over it.",
    flag_values=flag_values,
    module_name=module,
  )
  return tuple(names)


def from_flags(cls, flag_values=flags.FLAGS):
  """The settings of a parsed command line: flags over `--config` over defaults.

  Returns:
    `(instance of cls, dict of the flag values)`; the dict is what a run saves
    as its `config.json`.
  """
  names = tuple(leaf.name for leaf in _flag_leaves(cls))
  params = resolve(flag_values, flag_values["config"].value, names, cls)
  return build(cls, params), params


def resolve(flag_values, config_path=None, names=None, cls=None):
  """Merges a JSON config file under the command line; returns a plain dict.

  Values given on the command line win over the file; the file wins over flag
  defaults. Flags are never modified.

  Args:
    flag_values: parsed `absl.flags.FLAGS`.
    config_path: optional JSON file `{flag_name: value}`.
    names: the flag names of the script (the keys the result holds).
    cls: the program's settings class: the file may nest its settings by `cls`'s
      groups (as `config.json` is written); a flat file of a class with groups, as
      written before the groups, is read with a one-line note.

  Raises:
    ValueError: an unknown key, or a value of the wrong type, naming the file.
  """
  params = {name: flag_values[name].value for name in names}
  if not config_path:
    return params
  import tensorflow as tf  # here, not at import: `--help` answers without TensorFlow

  from tf_explainer import io_utils

  try:
    overrides = io_utils.read_json(config_path)
  except (OSError, json.JSONDecodeError, tf.errors.OpError) as e:
    raise ValueError(f"--config={config_path}: cannot read JSON ({e}).") from None
  if not isinstance(overrides, dict):
    raise ValueError(f"--config={config_path}: expected a JSON object of flag values.")
  overrides = _flattened(overrides, cls, config_path)
  for key, value in overrides.items():
    if key not in params or key == "config":
      raise ValueError(
        f"--config={config_path}: unknown key {key!r}; valid keys: "
        f"{sorted(k for k in params if k != 'config')}."
      )
    if flag_values[key].present:
      continue
    params[key] = _parse(flag_values[key], key, value, config_path)
  return params


def _flattened(overrides, cls, config_path):
  """The settings of a config file by flag name, its groups' unpacked."""
  groups = _groups(cls) if cls else {}
  if not groups:
    return overrides
  leaves = _leaves(cls)
  found = {}
  for key, value in overrides.items():
    if key in groups and isinstance(value, dict):
      mine = {leaf.key: leaf.name for leaf in leaves if leaf.group == key}
      for name, item in value.items():
        if name not in mine:
          raise ValueError(
            f"--config={config_path}: unknown key {key}.{name}; the {key} group holds "
            f"{sorted(mine)}."
          )
        found[mine[name]] = item
    else:
      found[key] = value
  if found and not any(key in groups for key in overrides):
    print(
      f"note: --config={config_path} is flat, as config.json was before the settings had "
      f"groups ({', '.join(groups)}); read by flag name.",
      file=sys.stderr,
      flush=True,
    )
  return found


def _parse(flag, key, value, config_path):
  """One config value, typed as its flag; a one-line error names the file, key and type."""
  if value is None:  # a saved config writes an unset optional flag as null
    if flag.default is None:
      return None
    raise ValueError(
      f"--config={config_path}: {key} is null; expected "
      f"{flag.flag_type()} (default {flag.default!r})."
    )
  if isinstance(value, bool):
    value = str(value).lower()
  elif isinstance(value, float) and flag.flag_type() == "int":
    if not value.is_integer():
      raise ValueError(
        f"--config={config_path}: bad value {value!r} for {key}; expected an integer."
      )
    value = int(value)
  elif isinstance(value, (int, float)):
    value = str(value)
  elif isinstance(value, list) and "list" not in flag.flag_type():
    raise ValueError(
      f"--config={config_path}: bad value {value!r} for {key}; expected "
      f"{flag.flag_type()}, not a list."
    )
  try:
    return flag.parser.parse(value)
  except (ValueError, TypeError, flags.IllegalFlagValueError) as e:
    raise ValueError(
      f"--config={config_path}: bad value {value!r} for {key}; expected {flag.flag_type()} ({e})."
    ) from None


def save(params, directory, name="config.json"):
  """Writes the resolved configuration into `directory` atomically."""
  from tf_explainer import io_utils

  io_utils.makedirs(directory)
  return io_utils.write_json(os.path.join(directory, name), params, sort_keys=True, default=str)
