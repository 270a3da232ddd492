"""My Data Workflow: A Prefect workflow, packaged and shipped in a Docker image."""

__version__ = "0.1.0"
