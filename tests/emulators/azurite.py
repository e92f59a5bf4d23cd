"""Azurite (Blob/Queue/Table) for the integration and contract tests."""
