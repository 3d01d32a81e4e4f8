"""Pulumi ComponentResources, one per concept of the factory (see docs/ARCHITECTURE.md)."""
