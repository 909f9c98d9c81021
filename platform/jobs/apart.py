"""`python -m callboard.jobs.apart JOB_ID`: run one recorded job in this new process.

A web server without Redis runs a large job so (`runner.run_apart`) and waits for it, or
lets a thread of its own wait when the client asked to be answered at once. The job runs
as `callboard worker` would run it (search indexing included), in a process with no other
thread, so its import or export may fork its helper processes, and the server's own
threads keep their core. The database and the data folder come from the environment
(CALLBOARD_DATABASE_URL, CALLBOARD_DATA_DIR); the job's row tells how it went.
"""
from __future__ import annotations

import logging
import os
import sys

from .runner import execute


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m callboard.jobs.apart JOB_ID", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    execute(int(args[0]), os.environ["CALLBOARD_DATABASE_URL"],
            os.environ["CALLBOARD_DATA_DIR"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
