"""``ratio_fit_vs_raw``: the project's real ``trainer.fit`` against a hand-written loop."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch
from common import compose, interleaved, median
from raw_loop import raw_fit


def fit_overrides(steps: int, backbone: str = "lstm") -> list[str]:
    return [
        f"backbone={backbone}",
        "model.backbone.hidden_size=32",
        f"trainer.max_steps={steps}",
        "callbacks.early_stopping=null",
    ]


def _build(workdir: Path, steps: int, tag: str, extra: list[str]):
    from rnnlab.run.train import prepare_run

    cfg = compose(workdir / tag, fit_overrides(steps) + extra)
    return cfg, prepare_run(cfg)


def _raw_runner(cfg, run):
    from hydra.utils import instantiate

    dm = run.datamodule
    dm.setup("fit")
    # The whole model, not only backbone and head: the task's forward (e.g. the forecaster's
    # per-window normalisation) is part of the work both loops do.
    model = copy.deepcopy(run.model)
    opt_factory = instantiate(cfg.model.optimizer)
    sched_cfg = cfg.model.scheduler
    sched_factory = instantiate(sched_cfg) if sched_cfg is not None else None
    clip = cfg.model.get("gradient_clip_val")

    def make_scheduler(optimizer, total_steps):
        return sched_factory(optimizer, total_steps=total_steps) if sched_factory else None

    x, y = dm.datasets["train"].all[:2]

    def go():
        # the forecaster's on_fit_start: the AR start (model.highway_init=ar), timed as in fit
        if getattr(model, "highway_init", None) == "ar" and model.highway is not None:
            model.start_from_ar(x, y)
        return raw_fit(
            model,
            dm.datasets["train"].windows,
            dm.datasets["val"].windows,
            seq_len=dm.seq_len,
            epochs=int(run.trainer.max_epochs),  # the step budget as whole epochs
            batch_size=dm.batch_size,
            eval_batch_size=dm.eval_batch_size,
            shuffle_seed=dm.shuffle_seed,
            min_batches=dm.min_batches_per_epoch,
            make_optimizer=lambda p: opt_factory(params=p),
            make_scheduler=make_scheduler,
            clip_norm=clip,
        )

    return model, go


def measure_fit(steps: int = 2000, repeats: int = 5, extra: list[str] | None = None) -> dict:
    """Median wall time of ``trainer.fit`` and of the raw loop, interleaved; their ratio."""
    extra = list(extra or [])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        # Every run is built before the clock starts (composing and instantiating are
        # start-up costs, measured by startup_seconds); only fit and loop are timed.
        n = repeats + 1
        real_runs = [_build(workdir, steps, f"fit{i}", extra)[1] for i in range(n)]
        raw_runs = [_raw_runner(*_build(workdir, steps, f"raw{i}", extra)) for i in range(n)]

        def real():
            run = real_runs.pop()
            run.trainer.fit(run.model, datamodule=run.datamodule)
            return run

        def raw():
            model, go = raw_runs.pop()
            go()
            return model

        real()  # warm-up: first-call costs (lazy imports, allocator) hit neither side's median
        raw()
        last_real, last_raw = real_runs[0], raw_runs[0][0]
        cpu: dict = {}
        t_real, t_raw = interleaved(real, raw, repeats, cpu)
        weight_gap = max(
            (a - b).abs().max().item()
            for a, b in zip(last_real.model.parameters(), last_raw.parameters(), strict=True)
        )
    fit_s, raw_s = median(t_real), median(t_raw)
    return {
        "steps_per_execution": last_real.model.steps_per_call or "epoch",
        "ratio_fit_vs_raw": fit_s / raw_s,
        # The same ratio in CPU seconds of this process: a cross-check on a busy machine.
        "ratio_cpu_seconds": median(cpu["a"]) / median(cpu["b"]),
        "fit_seconds": fit_s,
        "raw_seconds": raw_s,
        "fit_runs": t_real,
        "raw_runs": t_raw,
        "final_weight_max_abs_diff": weight_gap,
        "steps": last_real.trainer.global_step,
        "epochs": last_real.trainer.current_epoch,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(measure_fit(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, 3), indent=1))
