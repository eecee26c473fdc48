"""Open311 GeoReport v2: the standard interface for other systems, at the edge only."""
