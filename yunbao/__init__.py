"""Yunbao (云报): closed-loop civic issue reporting and field work orders for a district."""
