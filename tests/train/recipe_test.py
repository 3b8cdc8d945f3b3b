"""The real-photo recipe: what --arch=vgg16 --weights=imagenet trains with when left unset."""

import tensorflow as tf

from tf_explainer.train import performer_lib


class RecipeTest(tf.test.TestCase):
  def test_performer_defaults_follow_the_start(self):
    imagenet = performer_lib.PerformerSettings(
      dataset_dir="d", model_dir="m", arch="vgg16", weights="imagenet"
    )
    performer_lib.apply_defaults(imagenet)
    self.assertEqual(
      (imagenet.image_size, imagenet.fc_units, imagenet.freeze_through),
      (224, 512, "block4_conv3"),
    )
    self.assertEqual((imagenet.learning_rate, imagenet.epochs), (1e-4, 3))
    scratch = performer_lib.PerformerSettings(dataset_dir="d", model_dir="m", arch="vgg16")
    performer_lib.apply_defaults(scratch)
    self.assertEqual(
      (scratch.learning_rate, scratch.epochs, scratch.freeze_through), (1e-3, 10, None)
    )
    # What the user sets wins over the recipe.
    mine = performer_lib.PerformerSettings(
      dataset_dir="d", model_dir="m", arch="vgg16", weights="imagenet", epochs=7
    )
    performer_lib.apply_defaults(mine)
    self.assertEqual(mine.epochs, 7)


if __name__ == "__main__":
  tf.test.main()
