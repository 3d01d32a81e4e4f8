"""Sizing engine: from a workload forecast to accelerators, domains, HBM, power and cost.

Pure numpy and the standard library (plus PyYAML to read forecasts): no cloud imports.
"""

__version__ = "0.1.0"
