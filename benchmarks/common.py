"""Shared helpers of the benchmark scripts: machine description and result files."""

import datetime
import json
import os
import platform


def machine():
  """What the numbers were measured on."""
  info = {"cores": os.cpu_count(), "python": platform.python_version(),
          "date": datetime.date.today().isoformat()}
  try:
    with open("/proc/cpuinfo") as f:
      text = f.read()
    for line in text.splitlines():
      if line.startswith("model name"):
        info["cpu"] = line.split(":", 1)[1].strip()
        break
    flags = next((l for l in text.splitlines() if l.startswith("flags")), "")
    info["simd"] = sorted({f for f in flags.split() if f.startswith(("avx", "amx", "fma"))})
  except OSError:
    pass
  import tensorflow as tf
  info["tensorflow"] = tf.__version__
  return info


def write(name, results, out_dir="benchmarks/results"):
  """Writes `<out_dir>/<name>.json` and returns its path."""
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, f"{name}.json")
  with open(path + ".tmp", "w") as f:
    json.dump({"machine": machine(), "results": results}, f, indent=2)
  os.replace(path + ".tmp", path)
  print(f"Saved {path}")
  return path
