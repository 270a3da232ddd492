"""Reusable building blocks of the workflow.

They are plain Python, with no Prefect in them: test them like any other code, and import them
from the flow (workflow/flow.py), a notebook, or another project that installs this package.
"""

from .component_a import ComponentA
from .component_b import ComponentB

__all__ = ["ComponentA", "ComponentB"]
