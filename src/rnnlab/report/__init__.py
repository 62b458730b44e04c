"""Reporting on runs: test summaries, baselines, forecasts, figures, sweep comparisons.

The only part of rnnlab that draws (matplotlib); it never imports ``rnnlab.run``.
"""
