"""Running a pipeline: the step context, the executor and the run report."""
