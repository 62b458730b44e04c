"""Evaluate a checkpoint: ``python eval.py ckpt_path=<run dir>/checkpoints/last.ckpt``.

A thin entry; the work is in ``rnnlab.run.eval`` (also installed as ``rnnlab-eval``).
"""

from rnnlab.run.eval import main

if __name__ == "__main__":
    main()
