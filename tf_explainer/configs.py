"""The settings of every program, one dataclass each, without TensorFlow.

Each dataclass is the single list of a program's settings (`tf_explainer.settings`
makes the flags, the checks and `config.json` from it) and of its library call's
keywords. This module imports no TensorFlow, so a program answers `--help` at
once; the choices the settings offer are defined here and imported by the modules
that implement them.
"""

import dataclasses
from typing import Optional, Union

from tf_explainer.settings import (
  Settings,
  callbacks_setting,
  deterministic_setting,
  group,
  learning_rate_schedule_setting,
  on_error_setting,
  overwrite_setting,
  restart_setting,
  setting,
  train_split_setting,
  verbose_setting,
)

# tf.distribute strategies and Keras dtype policies (`train.distribute`).
STRATEGIES = ("default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
# Performers (`performers`) and what their inputs expect.
ARCHITECTURES = ("alexnet", "vgg_m", "vgg_s", "vgg16")
PREPROCESSING_MODES = ("none", "caffe", "torch", "tf")
# Tasks and splits of a dataset (`data.pipeline`).
TASKS = ("single", "multi")
SPLITS = ("train", "validation", "train_without_validation", "test", "all")
# The explainer (`models.explainer`, `losses.filter_loss`, `templates`).
GRADIENTS = ("exact", "approx", "icnn")
CENTRES = ("mass", "argmax")
ICNN_BETAS = ("adaptive", "fixed")
INTERP_INITS = ("random", "identity")
DECODER_INPUTS = ("pooled", "global_max")
OBJECTIVES = ("reconstruction", "classification")
NORM_IMAGES = ("positives", "all")
DECODER_INITS = ("copy", "rescaled")
# The 300 of the paper's lambda_f rule (SPEC.md): the default weight of the filter loss.
LAMBDA_F_DIVISOR = 300.0
# The synthetic data (`data.synthetic`) and the pretraining of the shipped networks.
SYNTHETIC_IMAGE_SIZE = 128
NUM_PRETRAIN_CATEGORIES = 24
CORPORA = ("demo", "pretrain", "demo_shapes", "pretrain_shapes")
PRETRAIN_ARCHITECTURES = ("alexnet", "vgg16")


# The program of tf_explainer/performers/keras_import.py.
@dataclasses.dataclass
class ImportSettings(Settings):
  """The settings of importing a Keras model as a performer (`run`, `import_performer.py`)."""

  model: Optional[str] = setting(
    None,
    "The trained Keras model: a .keras or .h5 file, or a tf.keras (Keras 2) SavedModel folder.",
    required=True,
  )
  model_dir: Optional[str] = setting(None, "Output folder of the performer.", required=True)
  target_layer: Optional[str] = setting(
    None, "The layer whose output the explainer disentangles (a square map).", required=True
  )
  top_conv_layer: Optional[str] = setting(
    None, "Override: the top conv layer (default: the last Conv2D after the target)."
  )
  fc_layers: Optional[str] = setting(
    None,
    "Override: comma-separated layers whose outputs are reconstructed (default: the Dense "
    "layers between the last pooling and the classifier, or the global pooling).",
  )
  classifier_layer: Optional[str] = setting(
    None, "Override: the classifier (default: the last Dense layer)."
  )
  image_size: Optional[int] = setting(
    None, "The input side, where the model's input has no fixed size.", lower_bound=8
  )
  preprocessing: str = setting(
    "none",
    "What the model expects of RGB 0-255 images: none (a preprocessing layer is inside the "
    "model, or it takes 0-255), caffe, torch or tf.",
    choices=PREPROCESSING_MODES,
  )
  dataset_dir: Optional[str] = setting(
    None, "A CUB-layout dataset whose classes.txt names the classes (default class_0..)."
  )
  overwrite: bool = setting(
    False, "Write into a non-empty model_dir that is not an earlier performer folder."
  )
  verbose: int = setting(1, "0: silent.", flag=False)


# The program of tf_explainer/train/performer_lib.py: its settings in groups.
@dataclasses.dataclass
class PerformerPaths(Settings):
  """What a performer's training reads and writes."""

  dataset_dir: Optional[str] = setting(None, "CUB-layout dataset root.", required=True)
  model_dir: Optional[str] = setting(None, "Output folder of the performer.", required=True)
  unlabeled_dir: Optional[str] = setting(
    None,
    "A second CUB-layout root whose images (every split; their labels unused) join the "
    "training images, each labelled with the class teacher_dir predicts for it.",
  )
  teacher_dir: Optional[str] = setting(
    None,
    "With unlabeled_dir: a trained performer (any architecture; the same classes and task) "
    "whose predicted classes label unlabeled_dir's images.",
  )


@dataclasses.dataclass
class PerformerNetwork(Settings):
  """The performer's architecture and size."""

  arch: str = setting("alexnet", "Architecture.", choices=ARCHITECTURES)
  image_size: Optional[int] = setting(
    None,
    "Input side; default 227 (AlexNet) or 224, or the shipped network's with weights=synthetic.",
    lower_bound=32,
  )
  width: Optional[float] = setting(
    None,
    "Filter multiplier; default 1.0 (the paper's network), "
    "or the shipped network's with weights=synthetic.",
    lower_bound=0.01,
  )
  fc_units: Optional[int] = setting(
    None,
    "Width of the fc layers; default 4096, 512 with arch=vgg16 weights=imagenet, or the "
    "shipped network's with weights=synthetic.",
    lower_bound=1,
  )


@dataclasses.dataclass
class PerformerTraining(Settings):
  """The task, where the weights start, the optimiser and schedule, and the folder."""

  task: str = setting("multi", "Single- or multi-category.", choices=TASKS)
  target_class: Optional[Union[int, str]] = setting(
    None, "Positive class for task=single: its id in classes.txt (1-based) or its name."
  )
  weights: Optional[str] = setting(
    None,
    "Start from: 'synthetic' (the weights shipped with the package, pretrained on the "
    "synthetic corpus; alexnet, vgg16); vgg16: 'imagenet' or a weights file; alexnet: a "
    "bvlc_alexnet.npy file. Default: from scratch.",
  )
  synthetic_dir: Optional[str] = setting(
    None,
    "With weights=synthetic: the folder of the pretrained weights and their model card "
    "(a pretraining's --weights_dir); default the package's shipped weights.",
  )
  freeze_through: Optional[str] = setting(
    None,
    "Keep the weights of every layer up to and including this one as they start (e.g. conv2 "
    "with weights=synthetic); they stay frozen in the saved performer. Default: train all, "
    "or block4_conv3 with arch=vgg16 weights=imagenet.",
  )
  epochs: Optional[int] = setting(
    None, "Training epochs; default 10, or 3 with arch=vgg16 weights=imagenet.", lower_bound=1
  )
  batch_size: int = setting(32, "Global batch size.", lower_bound=1)
  learning_rate: Optional[float] = setting(
    None,
    "Adam learning rate; default 1e-3, or 1e-4 with arch=vgg16 weights=imagenet.",
    lower_bound=0,
  )
  learning_rate_schedule: str = learning_rate_schedule_setting()
  warmup_epochs: int = setting(
    0,
    "Epochs of a linear warmup from 0 to learning_rate before the schedule (which then runs "
    "over the remaining epochs); 0 for none.",
    lower_bound=0,
  )
  label_smoothing: float = setting(
    0.0,
    "Label smoothing of the cross-entropy (keras.losses.CategoricalCrossentropy): the target "
    "puts this much of its mass evenly on every class; 0 for none, below 1.",
    lower_bound=0,
  )
  zoom: float = setting(
    0.0,
    "Random zoom-in of the training images besides the flips: a square of (1 - zoom) to 1 "
    "times the side, at a random place, resized back; 0 for flips only.",
    lower_bound=0,
  )
  erase: float = setting(
    0.0,
    "Random erasing of the training images besides the flips: a square of this fraction of "
    "the side, at a random place, painted the image's mean colour; 0 for none.",
    lower_bound=0,
  )
  train_split: str = train_split_setting()
  overwrite: bool = overwrite_setting("model_dir", "performer")
  restart: bool = restart_setting()
  on_error: str = on_error_setting()
  verbose: int = verbose_setting()
  extra_callbacks: tuple = callbacks_setting()


@dataclasses.dataclass
class PerformerRuntime(Settings):
  """Strategy, precision, seed and determinism of a performer's training."""

  strategy: str = setting("default", "tf.distribute strategy.", choices=STRATEGIES)
  mixed_precision: str = setting(
    "auto",
    "Keras dtype policy. auto: mixed_bfloat16 on CPUs with AMX or AVX512_BF16 and on GPUs "
    "with bfloat16, float32 elsewhere (printed and recorded in run.json).",
    choices=PRECISIONS,
  )
  seed: int = setting(
    0, "Seeds the weights, the dropout, the data order, the flips, the zooms and the erasing."
  )
  deterministic: bool = deterministic_setting()


@dataclasses.dataclass
class PerformerSettings(Settings):
  """The settings of training a performer (`run`, `train_performer.py`), in groups; flags
  and keywords keep the settings' flat names."""

  paths: PerformerPaths = group(PerformerPaths, "Data and output.")
  network: PerformerNetwork = group(PerformerNetwork, "Architecture and size.")
  training: PerformerTraining = group(PerformerTraining, "Task, start, optimiser, folder.")
  runtime: PerformerRuntime = group(PerformerRuntime, "Strategy, precision, seed.")


# The program of tf_explainer/train/explainer_lib.py: its settings in groups.
@dataclasses.dataclass
class ExplainerPaths(Settings):
  """What an explainer's training reads and writes."""

  performer_dir: Optional[str] = setting(None, "Folder of the trained performer.", required=True)
  dataset_dir: Optional[str] = setting(
    None, "Images to distil on: a plain folder of images or a CUB-layout root.", required=True
  )
  model_dir: Optional[str] = setting(None, "Output folder of the explainer.", required=True)
  unlabeled_dir: Optional[str] = setting(
    None,
    "Optional second CUB-layout root whose images (all splits, labels unused) are added "
    "to the distillation set.",
  )
  target_layer: Optional[str] = setting(
    None,
    "The performer layer the explainer reads (default: the performer's target layer, relu5_2 "
    "= block5_conv2 of VGG-16); a lower square map such as block4_conv3 is pooled to the "
    "side fc6 reads.",
  )


@dataclasses.dataclass
class ExplainerTraining(Settings):
  """How long and on what an explainer trains, and what happens to its folder."""

  epochs: int = setting(10, "Training epochs.", lower_bound=1)
  batch_size: int = setting(32, "Global batch size.", lower_bound=2)
  learning_rate: float = setting(1e-4, "Adam learning rate.", lower_bound=0)
  train_split: str = train_split_setting()
  monitor_every: int = setting(
    5,
    "Epochs between location-instability measurements on held-out images for TensorBoard (0: off).",
    lower_bound=0,
  )
  monitor_images: int = setting(64, "Images the monitor measures.", lower_bound=1, flag=False)
  monitor_split: str = setting(
    "test",
    "Images the monitor measures (the validation split while settings are chosen).",
    flag=False,
  )
  overwrite: bool = overwrite_setting("model_dir", "explainer")
  restart: bool = restart_setting()
  on_error: str = on_error_setting()
  verbose: int = verbose_setting()
  extra_callbacks: tuple = callbacks_setting()


@dataclasses.dataclass
class LossSettings(Settings):
  """The explainer's objective: its weights and the filter loss's gradient (SPEC.md).

  The trainer owns it (`train.trainer.ExplainerTrainer(explainer, loss)`); the network's
  config (`models.ExplainerConfig`) holds its shape only, and the explainer's
  `explainer.json` records the loss it was trained with. `gradient` and `icnn_centre`
  also choose the network's mask (the reference implementation's with `icnn`).
  """

  eta: Optional[float] = setting(
    None,
    "Weight of -log p per image; default the paper's value for the architecture.",
    lower_bound=0,
  )
  lambda_f_divisor: Optional[float] = setting(
    None,
    "The 300 of lambda_f = ... / (300 N): the filter loss's weight; default the paper's 300, "
    "or 30 with arch=vgg16 weights=imagenet.",
    lower_bound=0,
  )
  objective: str = setting(
    "reconstruction",
    "reconstruction: the explainer; classification: "
    "the paper's Explainer+cls baseline (uses the true labels).",
    choices=OBJECTIVES,
    ablation=True,
  )
  gradient: str = setting(
    "approx",
    "Filter-loss gradient: the paper's approximation, the "
    "formula's exact gradient, or the reference implementation's (with "
    "its mask).",
    choices=GRADIENTS,
    ablation=True,
  )
  icnn_centre: Optional[str] = setting(
    None,
    "gradient=icnn: each map's centre (default mass, the reference's).",
    choices=CENTRES,
    ablation=True,
  )
  icnn_beta: Optional[str] = setting(
    None,
    "gradient=icnn: mask sharpness per filter, adapted "
    "to its spread or fixed at 2 (default adaptive).",
    choices=ICNN_BETAS,
    ablation=True,
  )
  icnn_beta_rate: float = setting(
    0.05,
    "gradient=icnn, icnn_beta=adaptive: the share of the way to each filter's target "
    "sharpness per step.",
    lower_bound=0,
    flag=False,
  )
  lambda_l_scale: float = setting(
    5e4, "Numerator of lambda_l (the paper's 5e4).", lower_bound=0, ablation=True
  )
  overlap_weight: float = setting(
    0.0,
    "Weight of the overlap of the part maps (not in the paper; 0, the default, leaves it out; "
    "see docs/research-log.md).",
    lower_bound=0,
    ablation=True,
  )
  overlap_cap: float = setting(
    0.0,
    "With overlap_weight: weigh the share of the filters at one unit beyond this quota "
    "(objective.crowding) instead of the overlap; 0, the default, weighs the overlap.",
    lower_bound=0,
    ablation=True,
  )
  equivariance_weight: float = setting(
    0.0,
    "Weight of the equivariance term (not in the paper): the last interpretable layer's soft "
    "peaks should follow a random zoom of each training image, cached beside its features; "
    "0, the default, leaves it out (see docs/research-log.md).",
    lower_bound=0,
    ablation=True,
  )


@dataclasses.dataclass
class RuntimeSettings(Settings):
  """Where and how the computation runs: strategy, precision, XLA, seed, determinism."""

  strategy: str = setting("default", "tf.distribute strategy.", choices=STRATEGIES)
  mixed_precision: str = setting(
    "auto",
    "Keras dtype policy; losses stay float32. auto: mixed_bfloat16 on CPUs with AMX or "
    "AVX512_BF16 and on GPUs with bfloat16, float32 elsewhere (printed and recorded in run.json).",
    choices=PRECISIONS,
  )
  jit_compile: Optional[bool] = setting(
    None,
    "Compile the training step with XLA. Default: on, except for mixed_bfloat16 on a CPU, "
    "where XLA removes the bfloat16 gain (docs/research-log.md), and with deterministic, "
    "under which Keras compiles nothing with XLA.",
    ablation=True,
  )
  cache: bool = setting(True, "Cache the performer's features on disk.", ablation=True)
  seed: int = setting(0, "Random seed.")
  deterministic: bool = deterministic_setting()


@dataclasses.dataclass
class ExplainerAblations(Settings):
  """Research variants of the explainer's network and optimiser, kept for the research log
  (docs/research-log.md); `--helpfull` lists them, `--help` does not."""

  gate_learning_rate: float = setting(
    1e-2,
    "Adam learning rate of the gate's w_p (0: use learning_rate).",
    lower_bound=0,
    ablation=True,
  )
  mask: Optional[bool] = setting(
    None,
    "Apply the interpretable layers' masks (default true; false is the ablation without them).",
    ablation=True,
  )
  interp_init: Optional[str] = setting(
    None,
    "How the second interpretable conv layer starts: "
    "random (the paper; the default) or the identity (see "
    "docs/research-log.md).",
    choices=INTERP_INITS,
    ablation=True,
  )
  interp_layers: Optional[int] = setting(
    None,
    "Interpretable conv layers: 2, the paper's, by default; 1 for a VGG-16 performer with "
    "weights=imagenet (the real-photo recipe, BENCHMARKS.md).",
    lower_bound=1,
    ablation=True,
  )
  decoder_input: Optional[str] = setting(
    None,
    "What the decoder reads of each track: pooled (the paper's; the default) or global_max "
    "(each map's maximum, an ablation; see docs/research-log.md).",
    choices=DECODER_INPUTS,
    ablation=True,
  )
  initial_p: Optional[float] = setting(
    None,
    "p before training: 0.5, or 0.99 for a VGG-16 performer with weights=imagenet.",
    ablation=True,
  )
  norm_images: Optional[str] = setting(
    None,
    "Images whose maps set the NormLayer statistics: positives (the performer's positives "
    "of a single-category task, every image otherwise; the default) or all (see "
    "docs/research-log.md).",
    choices=NORM_IMAGES,
    ablation=True,
  )
  decoder_init: Optional[str] = setting(
    None,
    "How the first decoder layer starts: copy (the performer's fc6 as it is; the paper's and "
    "the default) or rescaled (each input row times its channel's NormLayer statistic, "
    "measured on the training maps before the first epoch, so that it reads the normalised "
    "maps on the performer's scale; the default for a VGG-16 performer with weights=imagenet; "
    "see docs/research-log.md).",
    choices=DECODER_INITS,
    ablation=True,
  )


@dataclasses.dataclass
class ExplainerSettings(Settings):
  """The settings of distilling an explainer (`run`, `train_explainer.py`), in groups.

  The flags and `explainer_lib.run`'s keywords are the settings' own names, flat
  (`--lambda_f_divisor`, `run(lambda_f_divisor=...)`); in Python they are read by group
  (`settings.loss.lambda_f_divisor`), and `config.json` is nested the same way.
  """

  paths: ExplainerPaths = group(ExplainerPaths, "Inputs and output.")
  training: ExplainerTraining = group(ExplainerTraining, "Epochs, batches, optimiser, folder.")
  loss: LossSettings = group(LossSettings, "The objective.")
  runtime: RuntimeSettings = group(RuntimeSettings, "Strategy, precision, seed.")
  ablations: ExplainerAblations = group(ExplainerAblations, "Research variants.", hidden=True)


# The program of tf_explainer/evaluate_lib.py.
@dataclasses.dataclass
class EvaluationSettings(Settings):
  """The settings of evaluating an explainer (`run`, `evaluate.py`)."""

  explainer_dir: Optional[str] = setting(None, "Folder of the trained explainer.", required=True)
  dataset_dir: Optional[str] = setting(None, "CUB-layout dataset root.", required=True)
  output_dir: Optional[str] = setting(None, "Where metrics.json and the report go.", required=True)
  split: str = setting(
    "test", "Images to evaluate on (validation: for choosing settings).", choices=SPLITS
  )
  top_n: int = setting(100, "Images per filter and landmark.", lower_bound=2)
  batch_size: int = setting(32, "Batch size.", lower_bound=1)
  make_figures: bool = setting(
    True, "Draw receptive-field, Grad-CAM and part-contribution figures."
  )
  explainer_cls_dir: Optional[str] = setting(
    None,
    "Optional Explainer+cls baseline (train_explainer.py with "
    "objective=classification) to compare errors with.",
  )
  seed: int = setting(0, "Random seed (recorded; evaluation draws nothing).")
  deterministic: bool = deterministic_setting()
  overwrite: bool = overwrite_setting("output_dir", "evaluation")
  on_error: str = on_error_setting()
  verbose: int = verbose_setting()


# The program of tf_explainer/export_lib.py.
@dataclasses.dataclass
class ExportSettings(Settings):
  """The settings of exporting an explainer (`run`, `export_savedmodel.py`)."""

  explainer_dir: Optional[str] = setting(None, "Folder of the trained explainer.", required=True)
  export_base: Optional[str] = setting(
    None, "Model base path watched by TF Serving.", required=True
  )
  version: int = setting(1, "Version folder to write.", lower_bound=0)
  model_name: str = setting("explainer", "Model name in warmup requests.")
  overwrite: bool = setting(False, "Replace an existing version.")
  performer_only: bool = setting(
    False, "Export the performer alone (its last fc layer and class_scores), the serving baseline."
  )


# The program of tf_explainer/demo.py.
@dataclasses.dataclass
class DemoSettings(Settings):
  """The settings of the end-to-end demo (`run`, `tf-explainer-demo`).

  The performer's settings are the performer program's own groups, nested (`network`,
  and `performer`: its training settings, as `--performer_<name>` flags), with the demo's
  defaults: a quarter-width network at 131 px, fine-tuned from the shipped weights.
  """

  work_dir: str = setting("runs/demo", "Where everything is written.")
  num_images: int = setting(1200, "Synthetic images to generate.", lower_bound=12)
  explainer_epochs: int = setting(40, "Explainer epochs.", lower_bound=1)
  unlabeled_images: int = setting(
    2100,
    "Extra synthetic images (another seed) added, without labels, to the explainer's "
    "distillation set (0: the training split only).",
    lower_bound=0,
  )
  task: str = setting("multi", "Classification task.", choices=("single", "multi"))
  target_class: str = setting("bird", "Positive class for task=single.")
  mixed_precision: str = setting(
    "float32",
    "Keras dtype policy for both trainings. float32 by default: at the demo's quarter width "
    "mixed_bfloat16 was slower and less accurate even on a CPU with bfloat16 units "
    "(docs/research-log.md); auto picks by the hardware, as the training programs do.",
    choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"),
  )
  seed: int = setting(0, "Random seed.")
  deterministic: bool = setting(
    True,
    "TensorFlow's deterministic kernels: the same seed gives the same numbers on this machine.",
  )
  restart: bool = setting(
    False, "Redo every step, also those a finished earlier run with the same settings left."
  )
  verbose: int = setting(1, "0: silent; 1: progress bars and step headers.", flag=False)
  network: PerformerNetwork = group(
    PerformerNetwork,
    "The performer's architecture and size.",
    defaults={"image_size": 131, "width": 0.25, "fc_units": 256},
    helps={
      "image_size": "Performer input side.",
      "width": "Performer filter multiplier.",
      "fc_units": "Performer fc width.",
      "arch": "Performer architecture.",
    },
  )
  performer: PerformerTraining = group(
    PerformerTraining,
    "How the performer trains (train_performer.py's settings of these names).",
    prefix="performer_",
    only=("weights", "epochs", "learning_rate", "learning_rate_schedule", "zoom", "freeze_through"),
    defaults={"learning_rate_schedule": None},
    helps={
      "weights": "Where the performer starts: scratch, synthetic (the network shipped with "
      "the package, pretrained on 24 other synthetic species, fine-tuned on the demo's "
      "images) or what train_performer.py's --weights takes. Default: synthetic for "
      "alexnet, scratch for the architectures without shipped weights.",
      "epochs": "Performer epochs; default 25 fine-tuned, 35 from scratch.",
      "learning_rate": "Performer Adam learning rate (default 1e-3, train_performer.py's).",
      "learning_rate_schedule": "Performer learning-rate schedule (train_performer.py's "
      "--learning_rate_schedule); default cosine fine-tuned, constant from scratch.",
      "zoom": "Random zoom-in of the performer's training images (train_performer.py's --zoom).",
      "freeze_through": "Layer up to which the performer's weights stay as they start "
      "(train_performer.py's --freeze_through); default none: every layer trains (freezing "
      "helped neither network on validation, docs/research-log.md).",
    },
  )


# The program of tf_explainer/train/pretrain.py.
@dataclasses.dataclass
class PretrainSettings(Settings):
  """The settings of pretraining (`run`, `pretrain_performer.py`)."""

  arch: str = setting("alexnet", "Architecture to pretrain.", choices=PRETRAIN_ARCHITECTURES)
  work_dir: str = setting("runs/pretrain", "Corpus and training runs.")
  weights_dir: Optional[str] = setting(
    None, "Where the weights and model card go; default the package's shipped-weights folder."
  )
  num_images: int = setting(12000, "Images in the corpus.", lower_bound=24)
  species: Optional[int] = setting(
    None,
    "Species in the corpus (both stages'); default 24. A larger number keeps the first 24 "
    "and adds more, drawn the same way.",
    lower_bound=2,
  )
  epochs: Optional[int] = setting(
    None, "Epochs of the first stage; default per architecture (30).", lower_bound=1
  )
  shape_epochs: Optional[int] = setting(
    None,
    "Epochs of a second stage on the same species drawn with one shared appearance "
    "(corpus=pretrain_shapes), starting from the first stage's network; 0: one stage; "
    "default per architecture (40).",
    lower_bound=0,
  )
  width: Optional[float] = setting(
    None, "Filter multiplier of the network; default per architecture (0.25).", lower_bound=0.01
  )
  fc_units: Optional[int] = setting(
    None, "Width of its fc layers; default per architecture (256).", lower_bound=1
  )
  learning_rate_schedule: Optional[str] = learning_rate_schedule_setting(
    None, "Learning-rate schedule (train_performer.py's); default per architecture (constant)."
  )
  mixed_precision: Optional[str] = setting(
    None,
    "Keras dtype policy of the training runs (train_performer.py's); default per "
    "architecture (float32, as the shipped weights were trained).",
    choices=tuple(p for p in PRECISIONS if p != "auto"),
  )
  continue_from: Optional[str] = setting(
    None,
    "Skip the first stage: train the shape-only stage (--shape_epochs) from these "
    "pretrained weights, an earlier run's --weights_dir or 'shipped' (the package's).",
  )
  seed: int = setting(0, "Seed of the corpus and of the training run.")
  deterministic: bool = setting(True, "TensorFlow's deterministic kernels.")
  command: str = setting("", "The command line, recorded in the model card.", flag=False)


# The program of tf_explainer/data/synthetic/__init__.py.
@dataclasses.dataclass
class GeneratorSettings(Settings):
  """The settings of `python -m tf_explainer.data.synthetic`."""

  out_dir: Optional[str] = setting(None, "Where to write the dataset (CUB layout).", required=True)
  num_images: int = setting(600, "Number of images.", lower_bound=1)
  image_size: int = setting(SYNTHETIC_IMAGE_SIZE, "Image side in pixels.", lower_bound=32)
  seed: int = setting(0, "Random seed.")
  corpus: str = setting(
    "demo",
    "demo: the six categories; pretrain: the 24 pretraining species; demo_shapes: the six "
    "categories with one shared appearance (only shape tells them apart); pretrain_shapes: "
    "the same for the 24 species.",
    choices=CORPORA,
  )
  overwrite: bool = setting(
    False, "Replace out_dir even when it holds files this generator did not write."
  )
  species: Optional[int] = setting(
    None,
    f"Species of corpus=pretrain or pretrain_shapes; default {NUM_PRETRAIN_CATEGORIES}.",
    lower_bound=2,
  )
  train_fraction: float = setting(
    0.7, "Share of images marked as training images (0 to 1).", lower_bound=0.0
  )

  def __post_init__(self):
    super().__post_init__()
    if self.train_fraction > 1:
      raise ValueError(f"train_fraction={self.train_fraction}: expected at most 1.")
