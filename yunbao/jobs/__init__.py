"""Background jobs: the task backends (database, Redis), `yunbao worker` and the periodic
schedule that enqueues recurring work (deadline sweeps, notification retries, retraining)."""
