"""Running a job: compose and check the config, build, train or evaluate, save the run."""
