"""The real-photo recipe: what --arch=vgg16 --weights=imagenet trains with when left unset."""

import tensorflow as tf

from tf_explainer import settings
from tf_explainer.configs import ExplainerSettings, PerformerSettings
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
      return s.ablations

    imagenet = PerformerSpec(
      arch="vgg16", num_classes=2, image_size=224, weights="imagenet", task="single"
    )
    recipe = explainer(imagenet)
    self.assertEqual(
      (recipe.interp_layers, recipe.decoder_init, recipe.initial_p), (1, "rescaled", 0.99)
    )
    scratch = explainer(PerformerSpec(arch="vgg16", num_classes=2, image_size=224, task="single"))
    self.assertEqual((scratch.interp_layers, scratch.decoder_init, scratch.initial_p), (None,) * 3)
    # What the user sets wins over the recipe.
    self.assertEqual(explainer(imagenet, interp_layers=2).interp_layers, 2)


if __name__ == "__main__":
  tf.test.main()
