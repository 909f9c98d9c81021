"""Background jobs: the job table, RQ queues when Redis is set, the inline runner."""
