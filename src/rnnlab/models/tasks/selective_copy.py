"""``task=selective_copy``: copy memory scored on the recall steps only
(``rnnlab.data.memory``); its report is ``rnnlab.report.tasks.selective_copy``."""

from __future__ import annotations

from rnnlab.models.tasks.copy import CopyModel


class SelectiveCopyModel(CopyModel):
    """``task=selective_copy``: as ``task=copy``; the data scores only the recall steps."""

    task = "selective_copy"
