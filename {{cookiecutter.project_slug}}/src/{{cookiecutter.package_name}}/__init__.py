{% set docstring = (cookiecutter.project_name ~ ": " ~ cookiecutter.description) | replace("\\", "\\\\") | replace('"', '\\"') %}
"""{{ docstring }}"""{{ "  # noqa: E501" if docstring | length > 94 else "" }}

__version__ = "0.1.0"
