"""The answer sets the tests bake, in one place: the reference projects' first, then the variants
each test module needs, each named for why it exists. A module draws its table from here."""

from __future__ import annotations

from support.template import DEFAULT_PREFECT, PREFECT_LINES, newest_prefect

# Baked without locking (that needs the network; tests/test_lock.py covers it).
OFFLINE = {"lock_requirements": "no"}
PREFECT_2 = next(line for line in PREFECT_LINES if line["api"] == 2)
PREFECT_1 = next(line for line in PREFECT_LINES if line["series"] == "1.")
PREFECT2, PREFECT1, PREFECT015 = newest_prefect(2), newest_prefect(1), PREFECT_LINES[0]["newest"]

# The reference projects (tests/reference/, tests/support/reference_projects.py): {variant: answers}.
# Each Prefect line's newest release, on the newest Python the line supports.
REFERENCE = {
    "default": {**OFFLINE},
    "prefect2-dask-kubernetes": {
        **OFFLINE, "prefect_version": PREFECT_2["newest"], "python_version": PREFECT_2["python"][1],
        "task_runner": "dask", "work_pool_type": "kubernetes",
    },
    "prefect1-docker": {
        **OFFLINE, "prefect_version": PREFECT_1["newest"], "python_version": PREFECT_1["python"][1],
        "work_pool_type": "docker",
    },
}

# Every supported combination, each checked file by file (tests/test_generation.py); baked offline.
GENERATION = {
    "defaults": {},
    "prefect3-kubernetes-dask": {"python_version": "3.11", "work_pool_type": "kubernetes",
                                 "task_runner": "dask"},
    "prefect3-process-py313": {"python_version": "3.13", "work_pool_type": "process"},
    "prefect3-docker-dask-registry": {"task_runner": "dask", "image_registry": "ghcr.io/acme",
                                      "image_name": "flows"},
    "prefect2-docker-dask": {"prefect_version": PREFECT2, "python_version": "3.11",
                             "task_runner": "dask"},
    "prefect2-kubernetes": {"prefect_version": PREFECT2, "python_version": "3.12",
                            "work_pool_type": "kubernetes"},
    "prefect1-docker": {"prefect_version": PREFECT1, "python_version": "3.11"},
    "prefect015-process": {"prefect_version": PREFECT015, "python_version": "3.9",
                           "work_pool_type": "process"},
    "prefect015-kubernetes": {"prefect_version": PREFECT015, "python_version": "3.9",
                              "work_pool_type": "kubernetes"},
    "extra-requirements": {"extra_requirements": "pandas==2.2.3, requests==2.32.3"},
    "digest-pinned-base": {
        "python_version": "3.12",
        "base_image": "registry.example.com:5000/base/python:3.12-slim@sha256:"
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
    "awkward-text": {"project_name": "Ünïcode \"Quoted\" Pipeline's Flow",
                     "author_name": "Zoë O'Brien \\ \"Jr\"",
                     "description": "Loads \"data\" & <tags>; {braces} and 'quotes'"},
    # Issue 7: a description that ends in a double quote broke the package's docstring.
    "description-ending-in-a-quote": {"description": 'Moves data for "sales"', "task_runner": "dask"},
    "markdown-and-yaml-in-text": {"project_name": "*Sales* `Q3` <b>#1</b> | [x](y) \\",
                                  "description": "- 1. # > Moves: data & more 🚀 ~~x~~ $5",
                                  "author_name": "&amp; אבי", "author_email": "'q'@example.com"},
    # The derived slug is cut short (DERIVED_SLUG_MAX).
    "long-name-kubernetes-dask": {"project_name": ("A very long project name " * 12).strip(),
                                  "work_pool_type": "kubernetes", "task_runner": "dask"},
    # Names that YAML reads as a boolean or a number unless quoted.
    "yaml-lookalike-names-kubernetes": {"project_slug": "true", "package_name": "true_flows",
                                        "image_name": "123", "work_pool_type": "kubernetes",
                                        "task_runner": "dask"},
    "registry-with-port-gitlab": {"image_registry": " registry.example.com:5000/team/ ", "ci": "gitlab",
                                  "task_runner": "dask"},
    # Two platforms, spaced: a multi-arch image; local builds take the first.
    "two-platforms-dask": {"platform": " linux/arm64 , linux/amd64 ", "task_runner": "dask"},
}

# The Dockerfiles checkov scans (tests/test_dockerfile_scan.py): the default, Prefect's own image as
# the base, Prefect 1, and a locked project (its Dockerfile installs from requirements.lock).
DOCKERFILE_SCAN = {
    "default": {},
    "prefect-image": {"python_version": "3.12", "task_runner": "dask",
                      "base_image": f"prefecthq/prefect:{DEFAULT_PREFECT}-python3.12"},
    "prefect1": {"python_version": "3.11", "prefect_version": newest_prefect(1),
                 "work_pool_type": "kubernetes"},
    "locked-kubernetes-dask": {"python_version": "3.11", "work_pool_type": "kubernetes",
                               "task_runner": "dask", "lock_requirements": "yes"},
}

# Every pool, runner, Prefect line and CI choice at least once.
PRE_COMMIT = {
    "prefect3-docker-github": {"ci": "github"},
    "prefect3-kubernetes-dask-gitlab": {"work_pool_type": "kubernetes", "task_runner": "dask",
                                        "ci": "gitlab", "python_version": "3.11"},
    "prefect2-process-dask": {"prefect_version": PREFECT2, "python_version": "3.11",
                              "work_pool_type": "process", "task_runner": "dask", "ci": "none"},
    "prefect015-kubernetes": {"prefect_version": PREFECT015, "python_version": "3.9",
                              "work_pool_type": "kubernetes", "ci": "gitlab"},
}
