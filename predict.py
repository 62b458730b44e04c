"""Predict with a trained model: ``python predict.py run_dir=<train run dir> [data.path=new.csv]``.

A thin entry; the work is in ``rnnlab.run.predict``.
"""

from rnnlab.run.predict import main

if __name__ == "__main__":
    main()
