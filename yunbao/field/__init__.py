"""Field work: the worker's phone pages and the supervisor's verification pages."""
