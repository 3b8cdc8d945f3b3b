"""Pretrains a performer on the synthetic corpus and ships its weights (`train.pretrain`).

tf-explainer-pretrain-performer --arch=alexnet
python training/pretrain_performer.py --arch=alexnet   # the same program
"""

import shlex
import sys

from tf_explainer import cli, configs


def _run(**settings):
  command = " ".join(
    ["python training/pretrain_performer.py"] + [shlex.quote(a) for a in sys.argv[1:]]
  )
  from tf_explainer.train import pretrain

  pretrain.run(command=command, **settings)


main = cli.program(configs.PretrainSettings, _run)

if __name__ == "__main__":
  main()
