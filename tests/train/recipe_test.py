"""The real-photo recipe: what --arch=vgg16 --weights=imagenet trains with when left unset."""

import tensorflow as tf

from tf_explainer import settings
from tf_explainer.configs import LAMBDA_F_DIVISOR, ExplainerSettings, PerformerSettings
from tf_explainer.performers import PerformerSpec
from tf_explainer.train import explainer_lib, performer_lib


def _settings(**values):
  return settings.build(PerformerSettings, dict(dataset_dir="d", model_dir="m", **values))


class RecipeTest(tf.test.TestCase):
  def test_performer_defaults_follow_the_start(self):
    imagenet = _settings(arch="vgg16", weights="imagenet")
    performer_lib.apply_defaults(imagenet)
    net, training = imagenet.network, imagenet.training
    self.assertEqual(
      (net.image_size, net.fc_units, training.freeze_through), (224, 512, "block4_conv3")
    )
    self.assertEqual((training.learning_rate, training.epochs), (1e-4, 3))
    scratch = _settings(arch="vgg16")
    performer_lib.apply_defaults(scratch)
    training = scratch.training
    self.assertEqual(
      (training.learning_rate, training.epochs, training.freeze_through), (1e-3, 10, None)
    )
    # What the user sets wins over the recipe.
    mine = _settings(arch="vgg16", weights="imagenet", epochs=7)
    performer_lib.apply_defaults(mine)
    self.assertEqual(mine.training.epochs, 7)

  def test_explainer_defaults_follow_the_performer(self):
    def explainer(spec, **values):
      s = settings.build(
        ExplainerSettings, dict(performer_dir="p", dataset_dir="d", model_dir="m", **values)
      )
      explainer_lib.apply_defaults(s, spec)
      return s

    imagenet = PerformerSpec(
      arch="vgg16", num_classes=2, image_size=224, weights="imagenet", task="single"
    )
    recipe = explainer(imagenet)
    self.assertEqual(
      (recipe.ablations.interp_layers, recipe.ablations.decoder_init, recipe.ablations.initial_p),
      (1, "rescaled", 0.99),
    )
    self.assertEqual(recipe.loss.lambda_f_divisor, 30.0)
    scratch = explainer(PerformerSpec(arch="vgg16", num_classes=2, image_size=224, task="single"))
    ablations = scratch.ablations
    self.assertEqual(
      (ablations.interp_layers, ablations.decoder_init, ablations.initial_p), (None,) * 3
    )
    self.assertEqual(scratch.loss.lambda_f_divisor, LAMBDA_F_DIVISOR)  # the paper's 300
    # What the user sets wins over the recipe.
    self.assertEqual(explainer(imagenet, interp_layers=2).ablations.interp_layers, 2)
    self.assertEqual(explainer(imagenet, lambda_f_divisor=300.0).loss.lambda_f_divisor, 300.0)


if __name__ == "__main__":
  tf.test.main()
