"""Train a recurrent network: ``python train.py backbone=gru data=adding``.

A thin entry; the work is in ``rnnlab.run.train`` (also installed as ``rnnlab-train``).
"""

from rnnlab.run.train import main

if __name__ == "__main__":
    main()
