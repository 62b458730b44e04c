"""One report per task, each in its own module: the task's block of ``metrics.json``, its
files and its figures (``rnnlab.report.task.TaskReport``). The task's config names it
(``report._target_`` in ``conf/task/<task>.yaml``)."""
