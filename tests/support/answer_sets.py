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

# The Dask cluster of the compose file, a worker killed mid-run (tests/test_dask_cluster.py): each
# Prefect line that has the Dask task runner.
DASK_CLUSTER = {f"prefect{api}": {"python_version": "3.11", "prefect_version": newest_prefect(api),
                                  "task_runner": "dask"} for api in (3, 2)}

# The README journeys (tests/test_journeys.py) run on the one Python every Prefect line they run
# supports (3: >=3.11; 1: <=3.11), each line's newest release.
JOURNEY_PYTHON = "3.11"
JOURNEY_PREFECT = {api: {"python_version": JOURNEY_PYTHON, "prefect_version": newest_prefect(api)}
                   for api in (1, 2, 3)}
# READMEs of answers no journey runs, read for their commands (tests/test_journeys.py,
# test_readme_references.py); a name of their own each, so that names normalize apart.
README_ONLY = {
    "prefect3-kubernetes-dask-registry-gitlab": {
        "python_version": JOURNEY_PYTHON, "work_pool_type": "kubernetes", "task_runner": "dask",
        "image_registry": "ghcr.io/acme", "ci": "gitlab"},
    "prefect3-docker-registry": {"python_version": JOURNEY_PYTHON,
                                 "image_registry": "registry.example.com/acme"},
    "prefect2-kubernetes": {**JOURNEY_PREFECT[2], "work_pool_type": "kubernetes"},
    "prefect1-process": {**JOURNEY_PREFECT[1], "work_pool_type": "process"},
    "prefect1-kubernetes": {**JOURNEY_PREFECT[1], "work_pool_type": "kubernetes"},
}

# The Kubernetes work pool (tests/test_kubernetes.py): every variant, Prefect line (its newest
# release) x task runner x registry or none; and the project whose two deploys each start a Dask
# cluster of their own image, locked as the image installs it.
KUBERNETES_REGISTRY = "ghcr.io/acme"
# What every Kubernetes test's project shares: the work pool, and Python 3.11 as in the journeys.
KUBERNETES_PROJECT = {"python_version": "3.11", "work_pool_type": "kubernetes"}
KUBERNETES_VARIANTS = {
    f"prefect{line['api']}-{runner}-{'registry' if registry else 'local'}":
        {"prefect_version": line["newest"], "task_runner": runner, "image_registry": registry}
    for line in PREFECT_LINES if line["api"] >= 2
    for runner in ("default", "dask") for registry in (KUBERNETES_REGISTRY, "")}
KUBERNETES_DASK_DEPLOYS = {**KUBERNETES_PROJECT, "task_runner": "dask", "image_registry": KUBERNETES_REGISTRY,
                           "image_name": "flows", "lock_requirements": "yes"}

# The local stack (tests/test_local_stack.py): the Quick start's answers, then each stack. Python
# 3.11 as in the journeys and the Dask cluster, so that bakes, virtualenvs and layers are shared.
LOCAL_STACK_QUICK_START = {"python_version": "3.11"}
LOCAL_STACKS = {
    "prefect2-docker": {"python_version": "3.11", "prefect_version": PREFECT2},
    "prefect3-docker-dask": {"python_version": "3.11", "task_runner": "dask"},
    "prefect3-process": {"python_version": "3.11", "work_pool_type": "process"},
}

# Prefect 1 and 0.15 (tests/test_prefect1.py, test_lock.py): the oldest line on the oldest Python,
# and Prefect 1's newest on 3.9 and on 3.11, each on the matching slim image.
PREFECT015_ON_39 = {"prefect_version": PREFECT015, "python_version": "3.9",
                    "base_image": "python:3.9-slim"}
PREFECT1_ON_39 = {"prefect_version": PREFECT1, "python_version": "3.9", "base_image": "python:3.9-slim"}
PREFECT1_ON_311 = {"prefect_version": PREFECT1, "python_version": "3.11",
                   "base_image": "python:3.11-slim"}
PREFECT1_IMAGES = {f"prefect-{PREFECT015}-py3.9": PREFECT015_ON_39,
                   f"prefect-{PREFECT1}-py3.11": PREFECT1_ON_311}
# Issue 16's crash: Prefect 2.20 installed with today's anyio and pydantic dies in its first run.
PREFECT2_UNLOCKED = {"prefect_version": PREFECT2, "python_version": "3.12", **OFFLINE}

# A release one patch behind its line's newest (tests/test_dependency_bots.py): the bots bump it.
BOT_BUMPED_RELEASE = {"prefect_version": "3.8.7", "python_version": "3.12"}

# Every companion in play (tests/test_prefect_releases.py): a Kubernetes pool with Dask.
ALL_COMPANIONS = {"work_pool_type": "kubernetes", "task_runner": "dask"}

# Each kind of project's Makefile (tests/test_makefile.py): every pool, Dask, Prefect 2 and 1, and
# a list of platforms (a multi-arch image, which push-platforms makes without buildx).
MAKEFILE = {
    "prefect3-docker": {},
    "prefect3-process-dask": {"work_pool_type": "process", "task_runner": "dask"},
    "prefect2-docker-dask": {"prefect_version": PREFECT2, "python_version": "3.11", "task_runner": "dask"},
    "prefect3-kubernetes": {"work_pool_type": "kubernetes"},
    "prefect1-docker": {"prefect_version": PREFECT1, "python_version": "3.11"},
    "prefect3-docker-multiarch": {"platform": "linux/amd64,linux/arm64"},
}

# The GitHub workflow run for real (tests/test_ci.py): Python 3.11, as the journeys.
GITHUB_RUN = {"ci": "github", "python_version": JOURNEY_PYTHON}
