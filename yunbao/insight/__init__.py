"""Insight app: the indicators of the digital urban-management standard (rates, volumes,
durations, trends, rankings, composite scores) served from aggregates kept current in each
order move's own transaction, with a drill-down to the orders behind every number."""
