"""`python -m tf_explainer.data.synthetic --out_dir=... --num_images=... --seed=...`.

The program of the synthetic data set; a module of its own, so that the data layer
imports nothing of the programs above it.
"""

from tf_explainer import cli
from tf_explainer import configs

cli.program(configs.GeneratorSettings, "tf_explainer.data.synthetic:run")()
