"""Background jobs (RQ, or inline without Redis): `enqueue`, `register` and the runner."""
from .runner import (
    JobContext,
    dispatch,
    enqueue,
    get_job,
    job_file,
    kinds,
    register,
    resume,
    run,
    visible_job,
)

__all__ = ["JobContext", "dispatch", "enqueue", "get_job", "job_file", "kinds", "register",
           "resume", "run", "visible_job"]
