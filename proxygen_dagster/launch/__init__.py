"""Ways to start the pipeline: the local run on embedded defaults, the several-host demo, Celery workers."""
