"""The CrossGuard policy pack: the sovereignty rules of infra/rules.py, enforced as mandatory policies."""
