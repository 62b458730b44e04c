"""Export a trained forecaster: ``python export.py run_dir=<train run dir> format=onnx``.

A thin entry; the work is in ``rnnlab.run.export``.
"""

from rnnlab.run.export import main

if __name__ == "__main__":
    main()
