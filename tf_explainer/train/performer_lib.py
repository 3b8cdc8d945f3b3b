"""Training a performer on a CUB-layout dataset (library of training/train_performer.py)."""

import os

import keras
import numpy as np

from tf_explainer import data as data_lib
from tf_explainer import io_utils, performers
from tf_explainer.train import callbacks as callbacks_lib
from tf_explainer.train import distribute
from tf_explainer.train import reproducibility


def run(dataset_dir, model_dir, arch="alexnet", image_size=None, task="multi",
        target_class=None, epochs=10, batch_size=32, strategy="default", width=None,
        fc_units=None, learning_rate=1e-3, mixed_precision="float32", weights=None, seed=0,
        deterministic=False, train_split="train", verbose=1, extra_callbacks=(), overwrite=False,
        restart=False, on_error="fail"):
  """Trains a performer and saves it into `model_dir`; returns `(model, spec, metrics)`.

  Args:
    dataset_dir: a CUB-layout root.
    model_dir: output folder: `performer.keras`, `performer.json`, `logs/`,
      `backup/` (resumes an interrupted run).
    arch: one of `performers.ARCHITECTURES`.
    image_size: input side; default the architecture's usual size, or the
      shipped network's with `weights="synthetic"`.
    width, fc_units: network size; default 1.0 and 4096 (the paper's), or the
      shipped network's with `weights="synthetic"`.
    task: `"single"` (target class against the rest) or `"multi"`.
    target_class: for `task="single"` only: the positive class, by its id in
      classes.txt (1-based in CUB) or its name (`"001.bird"` or `"bird"`).
    weights: `"synthetic"`: start from the weights shipped with the package
      (`performers.zoo`, pretrained on the synthetic corpus) and fine-tune;
      for vgg16 also `"imagenet"` or a weights file; for alexnet also a
      `bvlc_alexnet.npy` file.
    seed: seeds the weights, the dropout, the data order and the flips.
    deterministic: TensorFlow's deterministic kernels; with them two runs of
      one seed give identical weights (see `reproducibility`).
    overwrite: write into a non-empty `model_dir` that is not an earlier
      performer folder (refused otherwise).
    on_error: `"fail"` on an image that cannot be decoded, or `"skip"` it.
    restart: start an interrupted run in `model_dir` over instead of resuming
      it; resuming under other settings is refused (`prepare_resume`).
    train_split: `"train"`, or `"train_without_validation"` while settings
      are chosen on the validation split (which then also gives
      `val_accuracy`, instead of the test split).
  """
  distribute.set_precision(mixed_precision)
  reproducibility.configure(seed, deterministic)
  dataset = data_lib.read_checked(dataset_dir, on_error, verbose)
  class_names = [str(c) for c in dataset.class_names]
  if task == "single":
    target_class = class_index(target_class, dataset, dataset_dir)
    if verbose:
      print(f"Target class: {class_names[target_class]} (id "
            f"{_class_id(dataset, target_class)} in classes.txt).", flush=True)
  elif target_class is not None:
    raise ValueError(f"--target_class={target_class} applies only to --task=single, not "
                     f"--task={task}.")
  labels = data_lib.task_labels(dataset.labels, task, target_class)
  data_lib.check_train_split(train_split)
  train = data_lib.split_mask(dataset, train_split)
  held_out = data_lib.split_mask(dataset, data_lib.held_out_split(train_split))
  if task == "single" and not np.any(labels[train] == 1):
    raise ValueError(f"--dataset_dir={dataset_dir} has no training images of --target_class="
                     f"{class_names[target_class]}: no positives to learn from.")
  if not train.any() or not held_out.any():
    raise ValueError(f"--dataset_dir={dataset_dir} needs both training and test images "
                     f"(train_test_split.txt).")
  num_classes = 2 if task == "single" else len(class_names)
  if weights not in (None, "synthetic") and arch not in ("alexnet", "vgg16"):
    raise ValueError(f"--weights={weights} applies to --arch=alexnet (a bvlc_alexnet.npy file) "
                     f"and --arch=vgg16 ('imagenet' or a weights file), not --arch={arch}.")
  if weights == "synthetic":
    from tf_explainer.performers import zoo
    shipped = zoo.check_settings(arch, {"width": width, "fc_units": fc_units,
                                        "image_size": image_size})
    width, fc_units, image_size = shipped["width"], shipped["fc_units"], shipped["image_size"]
  width = width or 1.0
  fc_units = fc_units or 4096
  image_size = image_size or {"alexnet": 227}.get(arch, 224)
  strat = distribute.get_strategy(strategy)
  distribute.check_global_batch(batch_size, strat)

  with strat.scope():
    build_kwargs = ({"weights": weights} if arch == "vgg16" and weights not in (None, "synthetic")
                    else {})
    model, spec = performers.build_performer(arch, num_classes, image_size, width=width,
                                             fc_units=fc_units, **build_kwargs)
    if weights == "synthetic":
      zoo.load_synthetic(model, arch, spec.classifier_layer)
    elif arch == "alexnet" and weights:
      from tf_explainer.performers import converters
      converters.load_bvlc_alexnet_npy(model, weights)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
  spec.task = task
  spec.target_class = target_class
  spec.train_split = train_split
  spec.weights = weights or "scratch"
  spec.class_names = tuple(["rest", class_names[target_class]] if task == "single"
                           else class_names)

  io_utils.claim_dir(model_dir, "performer", "model_dir", overwrite)
  callbacks_lib.prepare_resume(model_dir, {
      "dataset_dir": io_utils.absolute(dataset_dir),
      "dataset": io_utils.fingerprint(os.path.join(dataset_dir, "images.txt")),
      "arch": arch, "image_size": image_size, "task": task, "target_class": target_class,
      "batch_size": batch_size, "width": width, "fc_units": fc_units,
      "learning_rate": learning_rate, "mixed_precision": mixed_precision, "weights": weights,
      "seed": seed, "train_split": train_split}, restart)
  backup = os.path.join(model_dir, "backup")
  train_ds = data_lib.make_dataset(dataset.subset(train), image_size, labels=labels[train],
                                   batch_size=batch_size, shuffle=True, seed=seed, augment=True,
                                   num_epochs=epochs,
                                   first_epoch=callbacks_lib.resume_epoch(backup))
  test_ds = data_lib.make_dataset(dataset.subset(held_out), image_size, labels=labels[held_out],
                                  batch_size=batch_size)
  to_xy = lambda b: (b["images"], b["labels"])  # noqa: E731
  reproducibility.write_record(model_dir, seed, deterministic)
  history = model.fit(
      train_ds.map(to_xy), validation_data=test_ds.map(to_xy), epochs=epochs, verbose=verbose,
      steps_per_epoch=-(-int(train.sum()) // batch_size),
      callbacks=[
          keras.callbacks.BackupAndRestore(backup, double_checkpoint=True),
          callbacks_lib.EpochKeyedRandomness(),
          keras.callbacks.TerminateOnNaN(),
          callbacks_lib.ThroughputAndLearningRate(int(train.sum())),
          *extra_callbacks,
          keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
      ])
  callbacks_lib.check_finite(history, model_dir)
  performers.save_performer(model, spec, model_dir)
  metrics = {k: float(v[-1]) for k, v in history.history.items()}
  return model, spec, metrics


def _class_id(dataset, index):
  return int(dataset.class_ids[index]) if dataset.class_ids is not None else index + 1


def class_index(target_class, dataset, dataset_dir):
  """The 0-based index of `target_class`: an id of classes.txt or a class name."""
  class_names = [str(c) for c in dataset.class_names]
  if target_class is None:
    raise ValueError("--task=single needs --target_class (a class id of classes.txt or a name).")
  target = str(target_class)
  if not target.isdigit():
    matches = [i for i, name in enumerate(class_names)
               if name == target or name.split(".", 1)[-1] == target]
    if not matches:
      raise ValueError(f"--target_class={target} is not a class of {dataset_dir}: "
                       f"{class_names}.")
    return matches[0]
  ids = [_class_id(dataset, i) for i in range(len(class_names))]
  if int(target) not in ids:
    raise ValueError(f"--target_class={target} is not a class id of {dataset_dir}/classes.txt "
                     f"(ids {ids[0]}..{ids[-1]}; 1-based).")
  return ids.index(int(target))
