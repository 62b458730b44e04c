"""A callback the startup bench adds on the command line: it writes the wall-clock time of
the first training step to a file, so the bench can subtract the process start time."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class FirstStepClock(L.Callback):
    """Writes ``time.time()`` at the start of the first training batch to ``path``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.done = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.done:
            self.path.write_text(repr(time.time()))
            self.done = True
