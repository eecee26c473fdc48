"""Time limits: warnings before and escalations after each stage's deadline."""
