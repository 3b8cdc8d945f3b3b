"""Training an explainer: the training state, `train_step` and the `lambda_f` rule.

`ExplainerTrainer` wraps an `Explainer` network (`tf_explainer.models`) and
holds what only training needs: `lambda_l`, `lambda_f` and the gradient norms
its rule accumulates, the filters' category statistics, the classifier of
the Explainer+cls objective, and the loss trackers. Train it with `fit` on
`(target_maps, targets)`, where `targets` is a dict of the performer's
post-ReLU fc features under `config.fc_names`, its predicted class under
`"category"`, optionally `"positive"` (a `(batch,)` mask of the images that
update the NormLayer statistics), for the equivariance term `"warped"` and
`"box"` (each image's zoomed-in crop: its target map and box,
`train.features.zoom_boxes`) and, for the classification objective, `"label"`.
Save `trainer.explainer`: the network alone.

The `lambda_f` rule (SPEC section 1), all of it here:

* every step accumulates, per interpretable filter, the batch-summed norms of
  the reconstruction's and the filter loss's gradients on its map;
* the first step of the first epoch sets `lambda_f` from its own norms
  (epoch N = 1);
* at every epoch end `LambdaFUpdate` calls `update_filter_loss_weights`,
  which sets `lambda_f = E||dLrec/dx|| / E||dLf/dx|| / (divisor * N)` for
  the next epoch N and clears the sums.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tf_explainer import compat, replicas
from tf_explainer.configs import LAMBDA_F_DIVISOR, LossSettings
from tf_explainer import templates as templates_lib
from tf_explainer.losses import objective
from tf_explainer.losses.filter_loss import filter_loss, icnn_beta_target
from tf_explainer.optimizers import FusedAdam
from tf_explainer.models.explainer import PAPER_ETA, Explainer, ExplainerConfig


def resolved_loss(loss, config):
  """`loss` (a `configs.LossSettings`; `None` for its defaults) with every unset setting
  given its value: eta AlexNet's (the caller gives the architecture's), lambda_f's divisor the
  paper's 300 (`configs.LAMBDA_F_DIVISOR`), the reference mask
  centred on the mass with an adaptive sharpness; the filter-loss gradient is the one the
  network's mask was built for (`config.gradient`).

  Raises:
    ValueError: when `loss` names another gradient than the network's.
  """
  loss = loss if loss is not None else LossSettings(gradient=config.gradient)
  if loss.gradient != config.gradient:
    raise ValueError(
      f"gradient={loss.gradient}: the explainer's masks were built for gradient="
      f"{config.gradient}; build the network with the same gradient."
    )
  unset = {
    "eta": PAPER_ETA["alexnet"],
    "lambda_f_divisor": LAMBDA_F_DIVISOR,
    "icnn_centre": config.icnn_centre,
    "icnn_beta": "adaptive",
  }
  return dataclasses.replace(
    loss, **{name: value for name, value in unset.items() if getattr(loss, name) is None}
  )


class ExplainerTrainer(compat.SkipDistributedSymbolicBuild, keras.Model):
  """An `Explainer` with its training state and training step.

  Args:
    explainer: the `Explainer` network (or its config).
    loss: the objective (`configs.LossSettings`: its weights, the filter loss's
      gradient); a setting left unset (`None`), or all of them without `loss`,
      takes the value the network's config records.
    filter_loss_fn: the per-filter loss (`filter_loss`); a benchmark passes a
      stand-in to time the step without it.
  """

  def __init__(self, explainer, loss=None, filter_loss_fn=filter_loss, **kwargs):
    super().__init__(**kwargs)
    self.filter_loss_fn = filter_loss_fn
    if isinstance(explainer, (dict, ExplainerConfig)):
      explainer = Explainer(explainer)
    self.explainer = explainer
    self.loss_settings = resolved_loss(loss, explainer.config)
    config = self.config
    width, n_layers, n_classes = config.width, config.interp_layers, config.num_classes
    self.templates = tf.constant(templates_lib.part_templates(config.target_shape[0], config.beta))
    # Every replica computes the same update from global sums, so the first
    # replica's value is the one to keep.
    state = lambda name, shape, init="zeros": self.add_weight(  # noqa: E731
      name=name,
      shape=shape,
      initializer=init,
      trainable=False,
      aggregation="only_first_replica",
      autocast=False,
    )
    self.lambda_l = state("lambda_l", (len(config.fc_sizes),), "ones")
    self.lambda_f = state("lambda_f", (n_layers, width))
    self.lambda_f_ready = state("lambda_f_ready", ())
    self.epoch = state("epoch", (), "ones")
    self.rec_grad_norms = state("rec_grad_norms", (n_layers, width))
    self.filter_grad_norms = state("filter_grad_norms", (n_layers, width))
    self.grad_norm_count = state("grad_norm_count", ())
    self.category_sums = state("category_sums", (n_layers, n_classes, width))
    self.category_counts = state("category_counts", (n_classes,))
    if self.loss_settings.objective == "classification":
      self.classifier_kernel = state("classifier_kernel", (config.fc_sizes[-1], n_classes))
      self.classifier_bias = state("classifier_bias", (n_classes,))
      names = ["loss", "classification"]
    else:
      names = ["loss", "reconstruction"] + [f"rec_{n}" for n in config.fc_names]
    names += ["log_p_term", "filter_loss", "p", "overlap"]
    if self.loss_settings.overlap_cap > 0:
      names.append("crowding")
    if self.loss_settings.equivariance_weight > 0:
      names.append("equivariance")
    names += [f"filter_loss_{i + 1}" for i in range(n_layers)]
    self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
    self.built = True

  @property
  def config(self):
    return self.explainer.config

  @property
  def p(self):
    return self.explainer.p

  def call(self, maps, training=False):
    return self.explainer(maps, training=training)

  @property
  def metrics(self):
    return list(self.trackers.values())

  # ---- state set from data ---------------------------------------------------------

  def set_reconstruction_weights(self, mean_norms):
    """Sets `lambda_l = lambda_l_scale / E||max(x*_l, 0)||` from measured norms."""
    if np.shape(mean_norms) != (len(self.config.fc_sizes),):
      raise ValueError(
        f"Need one mean norm per reconstructed fc layer {self.config.fc_names}, got {mean_norms}."
      )
    weights = objective.reconstruction_weights(mean_norms, self.loss_settings.lambda_l_scale)
    self.lambda_l.assign(weights.astype(np.float32))

  def set_classifier(self, kernel, bias):
    """The performer's classifier, for the `"classification"` objective."""
    if self.loss_settings.objective != "classification":
      raise ValueError("set_classifier is for explainers with objective='classification'.")
    self.classifier_kernel.assign(np.asarray(kernel, np.float32))
    self.classifier_bias.assign(np.asarray(bias, np.float32))

  def filter_categories(self):
    """Each interpretable filter's category: int32 `(interp_layers, width)`.

    The class whose images activate it most, or `config.filter_category` for
    every filter where that is set (single-category explainers).
    """
    return objective.filter_categories_from_sums(
      self.category_sums, self.category_counts, self.config.filter_category
    )

  # ---- the lambda_f rule ------------------------------------------------------------

  def _accumulate_filter_loss_norms(self, rec_grads, fil_grads, batch):
    rec_norms = replicas.global_sum(tf.stack([objective.per_filter_norms(g) for g in rec_grads]))
    fil_norms = replicas.global_sum(tf.stack([objective.per_filter_norms(g) for g in fil_grads]))
    self.rec_grad_norms.assign_add(rec_norms)
    self.filter_grad_norms.assign_add(fil_norms)
    self.grad_norm_count.assign_add(batch)
    # Before the first lambda_f exists, take it from this batch (epoch N = 1).
    divisor = self.loss_settings.lambda_f_divisor
    first = objective.filter_loss_weights(rec_norms, fil_norms, divisor, 1.0)
    self.lambda_f.assign(tf.where(self.lambda_f_ready > 0, self.lambda_f, first))
    self.lambda_f_ready.assign(1.0)

  def update_filter_loss_weights(self, next_epoch):
    """Sets `lambda_f` for epoch `next_epoch` (1-based) from accumulated norms."""
    count = tf.maximum(self.grad_norm_count, 1.0)
    new = objective.filter_loss_weights(
      self.rec_grad_norms / count,
      self.filter_grad_norms / count,
      self.loss_settings.lambda_f_divisor,
      float(next_epoch),
    )
    self.lambda_f.assign(tf.where(self.grad_norm_count > 0, new, self.lambda_f))
    self.epoch.assign(float(next_epoch))
    for v in (self.rec_grad_norms, self.filter_grad_norms, self.grad_norm_count):
      v.assign(tf.zeros_like(v))

  # ---- loss and training -------------------------------------------------------------

  def compile(self, optimizer="adam", gate_optimizer=None, **kwargs):
    """Compiles with an optional separate optimizer for the gate's `w_p`.

    Adam moves every weight by about its learning rate per step whatever the
    gradient's scale, so with the small rate the conv and fc weights need,
    `p` would take tens of thousands of steps to leave 0.5. A second optimizer
    with a larger rate for the one scalar `w_p` lets `p` find the balance of
    `-eta log p` and the reconstruction loss within a short run.
    """
    super().compile(optimizer=optimizer, **kwargs)
    self.gate_optimizer = gate_optimizer
    if gate_optimizer is not None:
      # Both built now, each for its own weights: a backup restored before the
      # first step must find the optimizers as the step uses them (built
      # lazily, the main one would be built for w_p too and reject the backup).
      w_p = self.explainer.gate.w_p
      gate_optimizer.build([w_p])
      self.optimizer.build([v for v in self.trainable_variables if v is not w_p])

  def _update_categories(self, interp_maps, categories):
    one_hot = tf.one_hot(categories, self.config.num_classes)  # (B, K)
    sums = [
      tf.matmul(one_hot, tf.reduce_sum(tf.cast(x, tf.float32), axis=[1, 2]), transpose_a=True)
      for x in interp_maps
    ]  # each (K, D)
    self.category_sums.assign_add(replicas.global_sum(tf.stack(sums)))
    self.category_counts.assign_add(replicas.global_sum(tf.reduce_sum(one_hot, axis=0)))

  def compute_losses(self, maps, targets, training=True):
    """All loss terms of one batch; returns `(terms, forward_output)`."""
    config, loss = self.config, self.loss_settings
    categories = tf.cast(tf.reshape(targets["category"], [-1]), tf.int32)
    out = self.explainer.forward(maps, training=training, sample_mask=targets.get("positive"))
    if loss.objective == "classification":
      terms = {
        "classification": objective.classification_term(
          out["fc"][-1],
          self.classifier_kernel,
          self.classifier_bias,
          targets["label"],
          loss.lambda_l_scale,
        )
      }
      terms["data"] = terms["classification"]
    else:
      terms = objective.reconstruction_terms(out["fc"], targets, config.fc_names, self.lambda_l)
      terms["reconstruction"] = tf.add_n(list(terms.values()))
      terms["data"] = terms["reconstruction"]
    terms["log_p_term"] = objective.log_p_term(out["p"], loss.eta)
    masks = None
    if loss.gradient == "icnn":  # the masks the forward pass used, from the layer's own map
      masks = [
        mask.raw_masks(x) for mask, x in zip(self.explainer.interp_masks, out["interp_maps"])
      ]
    out["filter_inputs"] = objective.filter_loss_inputs(out)
    out["per_filter"], filter_terms, out["filter_grad_inputs"] = objective.filter_loss_terms(
      out["filter_inputs"],
      self.templates,
      self.lambda_f,
      loss.gradient,
      categories,
      self.filter_categories(),
      masks,
      loss_fn=self.filter_loss_fn,
    )
    terms.update(filter_terms)
    terms["overlap"] = objective.overlap(out["masked"][-1])
    penalty = terms["overlap"]
    if loss.overlap_cap > 0:
      penalty = terms["crowding"] = objective.crowding(out["masked"][-1], loss.overlap_cap)
    terms["overlap_term"] = loss.overlap_weight * penalty
    terms["equivariance_term"] = tf.constant(0.0)
    if loss.equivariance_weight > 0:
      terms["equivariance"] = self._equivariance(out, targets)
      terms["equivariance_term"] = loss.equivariance_weight * terms["equivariance"]
    terms["loss"] = (
      terms["data"]
      + terms["log_p_term"]
      + terms["filter_loss"]
      + terms["overlap_term"]
      + terms["equivariance_term"]
    )
    terms["p"] = out["p"]
    out["icnn_masks"] = masks
    out["categories"] = categories
    return terms, out

  def _equivariance(self, out, targets):
    """The equivariance term of a batch whose targets hold each image's zoomed-in crop.

    The crops run through the interpretable layers alone; the term reads the last one's
    conv output before its ReLU, on the images (`out`) and on their crops, over the images
    that update the NormLayer statistics (`positive`: the target class's for a
    single-category performer), as the filter loss does. Its gradient reaches the weights
    through those outputs, not through the last post-ReLU map; what it sends into the
    earlier layers' maps `train_step` leaves out of the `lambda_f` rule's reconstruction.
    """
    if "warped" not in targets or "box" not in targets:
      raise ValueError(
        "equivariance_weight > 0 needs each image's zoomed-in crop in the targets "
        "('warped', 'box'): cache the features with zoom=True (train.features)."
      )
    crops = self.explainer.interpretable_track(targets["warped"])["interp_logits"][-1]
    weights = targets.get("positive")
    if weights is None:
      weights = tf.ones(tf.shape(crops)[:1], tf.float32)
    return objective.equivariance(
      out["interp_logits"][-1], crops, targets["box"], weights, objective.EQUIVARIANCE_TEMPERATURE
    )

  def _reconstruction_map_grads(
    self, tape, total_grads, fil_grads, overlap_grad, equivariance_grads, out, scale
  ):
    """The reconstruction's gradient on each interpretable map, from the total loss's.

    The total is reconstruction + `-eta log p` + `sum lambda_f Loss_f` (+ the
    overlap and equivariance terms). `-eta log p` does not depend on the maps. On
    map `i` directly, `Loss_f` acts through its filter-loss input (`lambda_f_i
    dLoss_f/dx'_i`, times `p` for the last; the icnn masks hold no gradient) and
    the overlap term on the last map through its mask (`overlap_grad`); the later
    layers' terms reach map `i` through the convs between, carried down by `tape`
    (a vector-Jacobian product through the interpretable track alone, nothing for
    one layer). The equivariance term reads the last conv's output, before the last
    map: its gradient on each earlier map comes measured (`equivariance_grads`,
    `None` where it has none). `dL_rec/dx_i` is `dL/dx_i` less all of that: a
    backward pass of the reconstruction alone, without paying for one through the
    decoder.
    """
    p = tf.stop_gradient(tf.cast(out["p"], tf.float32))
    maps = out["interp_maps"]
    last = len(total_grads) - 1
    rec_grads = [None] * len(total_grads)
    carried = None  # the gradient of every non-reconstruction term on map i
    for i in range(last, -1, -1):
      direct = tf.stop_gradient(self.lambda_f[i]) * fil_grads[i]
      if i == last:
        direct = p * direct + (overlap_grad if overlap_grad is not None else 0.0)
        carried = direct
      else:
        below = tape.gradient(
          maps[i + 1], maps[i], output_gradients=tf.cast(carried, maps[i + 1].dtype)
        )
        carried = tf.cast(below, tf.float32) + direct
      rec_grads[i] = tf.cast(total_grads[i], tf.float32) / scale - carried
      if equivariance_grads[i] is not None:
        rec_grads[i] -= equivariance_grads[i]
    return rec_grads

  def _update_mask_betas(self, out):
    """Moves each filter's mask sharpness a step toward `clip(3 / sigma_bar, 1.5, 3)`."""
    filter_cats = self.filter_categories()
    for i, (layer, maps) in enumerate(zip(self.explainer.interp_masks, out["interp_maps"])):
      positive = tf.equal(out["categories"][:, None], filter_cats[i][None, :])
      target = icnn_beta_target(
        tf.cast(maps, tf.float32), out["icnn_masks"][i], positive, self.config.icnn_centre
      )
      beta = layer.filter_beta
      beta.assign(beta + self.loss_settings.icnn_beta_rate * (target - beta))

  def train_step(self, data):
    maps, targets = data[0], data[1]
    n_replicas = replicas.num_replicas()
    with tf.GradientTape(persistent=True) as tape:
      terms, out = self.compute_losses(maps, targets, training=True)
      # Gradients are summed over replicas. Reconstruction (a per-replica mean)
      # and -eta log p (the same on every replica) are divided by the replica
      # count; the filter loss is already that of the global batch, and each
      # replica contributes the gradient through its own maps only.
      # The overlap and equivariance terms, like reconstruction, are per-replica batch means.
      local_rec = (terms["data"] + terms["overlap_term"] + terms["equivariance_term"]) / n_replicas
      total = local_rec + terms["log_p_term"] / n_replicas + terms["filter_loss"]
      # Under mixed_float16 the main optimizer is a LossScaleOptimizer that
      # divides what it applies by its scale: the loss must be scaled to match
      # (elsewhere scale_loss is the identity). Scaled losses also keep the
      # float16 gradients below from underflowing.
      scale = tf.cast(self.optimizer.scale_loss(tf.constant(1.0)), tf.float32)
      scaled_total = total * scale
      scaled_overlap = terms["overlap_term"] / n_replicas * scale
      scaled_equivariance = terms["equivariance_term"] / n_replicas * scale
    weights = self.trainable_variables
    # One backward pass gives the weights' gradients, the total loss's gradient on each
    # interpretable map and the filter losses' own (unweighted) gradients on their inputs.
    interp_maps, fil_inputs = out["interp_maps"], out["filter_grad_inputs"]
    all_grads = tape.gradient(scaled_total, weights + interp_maps + fil_inputs)
    n_weights, n_maps = len(weights), len(interp_maps)
    grads = all_grads[:n_weights]
    map_grads = all_grads[n_weights : n_weights + n_maps]
    fil_grads = [tf.cast(g, tf.float32) / scale for g in all_grads[n_weights + n_maps :]]
    overlap_grad = None
    if self.loss_settings.overlap_weight > 0:  # through the last mask only: cheap
      overlap_grad = tf.cast(tape.gradient(scaled_overlap, interp_maps[-1]), tf.float32) / scale
    # The equivariance term reads the last layer's conv output, so it reaches the earlier
    # layers' maps only (through the convs between: nothing for one layer).
    equivariance_grads = [None] * len(interp_maps)
    if self.loss_settings.equivariance_weight > 0 and len(interp_maps) > 1:
      below = tape.gradient(scaled_equivariance, interp_maps[:-1])
      equivariance_grads[:-1] = [tf.cast(g, tf.float32) / scale for g in below]
    # Gradient norms for the online lambda_f: reconstruction vs filter loss per filter.
    rec_grads = self._reconstruction_map_grads(
      tape, map_grads, fil_grads, overlap_grad, equivariance_grads, out, scale
    )
    del tape
    batch = replicas.global_sum(tf.cast(tf.shape(maps)[0], tf.float32))
    self._accumulate_filter_loss_norms(rec_grads, fil_grads, batch)
    self._update_categories(out["interp_maps"], out["categories"])
    if self.loss_settings.gradient == "icnn" and self.loss_settings.icnn_beta == "adaptive":
      self._update_mask_betas(out)
    gate_optimizer = getattr(self, "gate_optimizer", None)
    if gate_optimizer is None:
      self.optimizer.apply_gradients(zip(grads, weights))
    else:
      w_p = self.explainer.gate.w_p
      self.optimizer.apply_gradients([(g, v) for g, v in zip(grads, weights) if v is not w_p])
      # The gate's own optimizer is not loss-scaled: it gets the unscaled
      # gradient (none where the scaled one overflowed, as the main one skips).
      gate = [g / scale for g, v in zip(grads, weights) if v is w_p]
      gate = [tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in gate]
      gate_optimizer.apply_gradients(zip(gate, [w_p]))
    return self._record(terms)

  def test_step(self, data):
    maps, targets = data[0], data[1]
    terms, _ = self.compute_losses(maps, targets, training=False)
    return self._record(terms)

  def _record(self, terms):
    for name, tracker in self.trackers.items():
      tracker.update_state(terms[name])
    return compat.logs_for_strategy(
      {name: tracker.result() for name, tracker in self.trackers.items()}
    )


class LambdaFUpdate(keras.callbacks.Callback):
  """Updates `lambda_f` at the end of every epoch (the paper's online rule)."""

  def on_epoch_end(self, epoch, logs=None):
    self.model.update_filter_loss_weights(next_epoch=epoch + 2)
    if logs is not None:
      logs["lambda_f_mean"] = float(np.mean(self.model.lambda_f.numpy()))


def build_trainer(config, optimizer=None, filter_loss_fn=filter_loss, loss=None, **compile_kwargs):
  """A compiled `ExplainerTrainer` around a new `Explainer` (config or dict), with `loss`
  (`configs.LossSettings`, default its defaults)."""
  trainer = ExplainerTrainer(Explainer(config), loss, filter_loss_fn=filter_loss_fn)
  trainer.compile(optimizer=optimizer or FusedAdam(1e-4), **compile_kwargs)
  return trainer
