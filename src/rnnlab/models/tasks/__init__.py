"""One LightningModule per task, each in its own module (``conf/task/<task>.yaml`` names it and
the task's report). A new task is one module here or anywhere importable, one report class
(``rnnlab.report.tasks``) and one YAML file."""

from rnnlab.models.tasks.classify import Classifier
from rnnlab.models.tasks.copy import CopyModel
from rnnlab.models.tasks.forecast import Forecaster
from rnnlab.models.tasks.regress import Regressor
from rnnlab.models.tasks.selective_copy import SelectiveCopyModel

__all__ = ["Classifier", "CopyModel", "Forecaster", "Regressor", "SelectiveCopyModel"]
