"""Hypothesis strategies for answers to the template's prompts.

`acceptable_answers(combinations)` draws answer sets that the template must accept: every free-text
prompt gets awkward text (quotes of every kind, backslashes, Markdown, YAML and shell syntax,
braces that are not Jinja, right-to-left and combining text, emoji, very long values) and the
choices are one of the given combinations. `unsafe_answers(...)` draws answer sets with one answer
that the pre-gen hook must refuse (line breaks and control characters in one-line fields, Jinja
markers, surrounding spaces, a project_name with nothing to make a directory name from, a folder's
name that is a path or longer than a file name may be), and answers given as extra context with
Jinja syntax, which cookiecutter would render into another value.

The rules the strategies follow are the template's specification, written here independently of
the hook that enforces them.
"""

from __future__ import annotations

import itertools
import keyword
import re
import sys
import unicodedata

from hypothesis import strategies as st
from slugify import slugify  # cookiecutter's `slugify` filter is python-slugify's

from support.template import COOKIECUTTER_JSON, PREFECT_LINES

FREE_TEXT = ("project_name", "project_slug", "package_name", "description", "author_name",
             "author_email", "base_image", "extra_requirements", "image_name", "image_registry", "platform")
# Shown on one line wherever they appear (a README heading, a docstring, a TOML or YAML string).
ONE_LINE = ("project_name", "description", "author_name", "author_email")
CHOICES = {key: value for key, value in COOKIECUTTER_JSON.items()
           if isinstance(value, list) and not key.startswith("_")}
# Jinja's markers: cookiecutter renders answers given as extra context (and cruft's recorded ones on
# every update), and Prefect renders {{ }} in prefect.yaml.
JINJA_MARKERS = ("{{", "{%", "{#")
# Line breaks and other characters that no one-line field can hold: control characters (tab
# included), surrogates, Unicode line and paragraph separators.
UNPRINTABLE_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")
# Names the generated project's own code imports, which a package must not shadow.
SHADOWED = {"prefect", "prefect_dask", "prefect_docker", "prefect_kubernetes", "dask", "distributed",
            "workflow", "components", "tests", "test", "src", "setup"}
# The longest slug cookiecutter.json derives from a project_name (its slugify max_length), and the
# longest the hook takes for a Kubernetes namespace.
DERIVED_SLUG_MAX = int(re.search(r"max_length=([0-9]+)", COOKIECUTTER_JSON["project_slug"])[1])
SLUG_MAX = 63


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def choice_combinations(lock_requirements: str = "no") -> list[dict]:
    """Every supported combination of the choices: each Prefect line's newest release with each
    Python the line supports, each work pool, task runner (Dask needs Prefect 2 or 3) and CI."""
    combinations = []
    for line in PREFECT_LINES:
        low, high = (release(v) for v in line["python"])
        pythons = [p for p in CHOICES["python_version"] if low <= release(p) <= high]
        runners = CHOICES["task_runner"] if line["api"] >= 2 else ["default"]
        for python, pool, runner, ci in itertools.product(pythons, CHOICES["work_pool_type"], runners,
                                                          CHOICES["ci"]):
            combinations.append({"prefect_version": line["newest"], "python_version": python,
                                 "work_pool_type": pool, "task_runner": runner, "ci": ci,
                                 "lock_requirements": lock_requirements})
    return combinations


def combination_id(choices: dict) -> str:
    return "-".join(choices[key] for key in ("prefect_version", "python_version", "work_pool_type",
                                             "task_runner", "ci"))


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

# Pieces that have broken templates somewhere, and the characters each file format treats specially.
AWKWARD = [
    '"', "'", '"""', "'''", '\\', '\\\\', '\\"', "\\'", "\\n", "\\t", "\\u00e9", "\\x00", "\\",
    "`", "```", "~~~", "*", "**", "_", "__", "#", "# ", "##", "[", "]", "[x](y)", "![i](u)", "[^1]",
    "<", ">", "<b>", "</div>", "<!--", "-->", "&", "&amp;", "&#35;", "&nbsp;", "|", "| a | b |",
    "~", "~~", "!", "-", "- ", "+ ", "* ", "1. ", "1) ", "=", "===", "---", "***", "___", ":", ": ",
    "? ", "%", "%s", "%(x)s", "@", "$", "${X}", "$(ls)", "`ls`", ";", ",", ".", "...", "{", "}",
    "{}", "{0}", "{x}", "{ {", "} }", "}}", "%}", "#}", "} %", "[[", "]]", " ", "  ", "0", "1e5",
    "0x1f", "yes", "no", "on", "null", "true", "~", ".inf", "é", "e\u0301", "שלום", "مرحبا",
    "\u200f", "\u200e", "\u202e", "日本語", "🚀", "👩\u200d💻", "🇫🇷", "ß", "İ", "Ω", "\U0001d518",
    "\ufeff", "\u00a0", "\u2003", "\u3000", "’", "“", "”", "«", "»", "—", "…",
]
WORDS = ["data", "Flow", "sales", "ETL", "Zoë", "O'Brien", "naïve", "São", "Paulo", "v2", "2024",
         "pipeline", "Ünïcode", "Jr.", "Dr", "x"]
# Any character a one-line field may hold.
PRINTABLE = st.characters(exclude_categories=UNPRINTABLE_CATEGORIES)


def break_jinja_markers(text: str) -> str:
    """'{{' -> '{ {' (and '{%', '{#' alike): braces that stay text."""
    return re.sub(r"\{(?=[{%#])", "{ ", text)


def one_line_acceptable(text: str) -> bool:
    return (not any(unicodedata.category(c) in UNPRINTABLE_CATEGORIES for c in text)
            and not any(marker in text for marker in JINJA_MARKERS) and text == text.strip())


def text_pieces(alphabet=PRINTABLE):
    return st.one_of(st.sampled_from(AWKWARD), st.sampled_from(WORDS), st.text(alphabet, max_size=6))


@st.composite
def long_text(draw, alphabet=PRINTABLE):
    """A few thousand characters: a piece repeated, or random text."""
    piece = draw(st.one_of(st.sampled_from(AWKWARD + WORDS), st.text(alphabet, min_size=1, max_size=5)))
    return piece * draw(st.integers(200, 4000 // len(piece) + 200))


def one_line_text(min_size: int = 1):
    """Text that every one-line field must accept."""
    joined = st.one_of(
        st.lists(text_pieces(), min_size=1, max_size=12).map("".join),
        long_text(),
    )
    return joined.map(break_jinja_markers).map(str.strip).filter(lambda t: len(t) >= min_size)


def email_addresses():
    """Addresses of the form PEP 621 tools accept (local@domain.tld, any characters but '@')."""
    no_at = one_line_text().map(lambda t: t.replace("@", "").strip()).filter(bool)
    return st.builds(lambda local, domain, tld: f"{local}@{domain}.{tld}", no_at,
                     no_at.map(lambda t: t.replace(".", "")).filter(bool),
                     st.one_of(st.sampled_from(["com", "org", "de", "xn--p1ai", "рф"]),
                               no_at.map(lambda t: t.replace(".", "")).filter(bool))
                     ).filter(one_line_acceptable)


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------

# Valid slugs that YAML 1.1 (PyYAML, Kubernetes' go-yaml) reads as numbers, booleans, null or dates.
YAML_LOOKALIKE_SLUGS = ["123", "0", "017", "0x1f", "0o17", "1e5", "yes", "no", "on", "off", "y", "n",
                        "true", "false", "null", "nan", "inf", "2024-01-01", "1-2"]


def slugs(max_size: int = SLUG_MAX):
    return st.one_of(
        st.sampled_from(YAML_LOOKALIKE_SLUGS),
        st.from_regex(rf"[a-z0-9](?:[a-z0-9-]{{0,{max_size - 2}}}[a-z0-9])?", fullmatch=True),
    )


def importable_package(name: str) -> bool:
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    return (re.fullmatch(r"[a-z_][a-z0-9_]*", name) is not None and not keyword.iskeyword(name)
            and not keyword.issoftkeyword(name) and name not in stdlib and name not in SHADOWED)


def package_names():
    return st.from_regex(r"[a-z_][a-z0-9_]{0,40}", fullmatch=True).filter(importable_package)


# distribution/reference's grammar, piece by piece.
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+){0,3}"
DOMAINS = ["ghcr.io", "docker.io", "localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000", "quay.io",
           "registry.example.com:443", "my-registry.internal", "123.dkr.ecr.eu-west-1.amazonaws.com"]


def image_paths(max_parts: int = 3):
    return st.lists(st.one_of(st.from_regex(PATH_COMPONENT, fullmatch=True),
                              st.sampled_from(YAML_LOOKALIKE_SLUGS + ["1.5", "a.b"])),
                    min_size=1, max_size=max_parts).map("/".join)


def image_names():
    return st.one_of(image_paths(), st.just("a" * 150))


def image_registries():
    """'' (local images only), or a registry host with an optional repository prefix; spaces
    around it and a trailing '/' are tolerated (the template strips them)."""
    registry = st.builds(lambda domain, path: f"{domain}/{path}" if path else domain,
                         st.sampled_from(DOMAINS), st.one_of(st.just(""), image_paths(2)))
    return st.one_of(st.just(""), registry,
                     st.builds(lambda r, before, after: f"{before}{r}{after}", registry,
                               st.sampled_from(["", " ", "  "]), st.sampled_from(["", "/", " ", "/ "])))


@st.composite
def base_images(draw, python: str):
    """Tagged references whose tag, when it names a Python, names python_version."""
    # (A host without a dot before a port, e.g. localhost:5000, is refused: hadolint cannot parse it.)
    dotted = [d for d in DOMAINS if not re.fullmatch(r"(\[[^]]*\]|[^./]+):[0-9]+", d)]
    domain = draw(st.one_of(st.just(""), st.sampled_from(dotted).map(lambda d: d + "/")))
    path = draw(st.one_of(st.just("python"), image_paths(2)))
    tag = draw(st.sampled_from([f"{python}-slim", python, f"{python}.7-bookworm", f"py{python}",
                                f"{python}-slim-bookworm", "stable", "v1", "2024.10", "bookworm"]))
    digest = draw(st.one_of(st.just(""), st.from_regex(r"@sha256:[0-9a-f]{64}", fullmatch=True)))
    return f"{domain}{path}:{tag}{digest}"


PLATFORMS = ["linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7", "linux/amd64/v2",
             "linux/ppc64le", "linux/s390x", "linux/riscv64", "linux/386"]


def platforms():
    """The platform answer: empty, one platform, or a list (spaces around the commas allowed)."""
    listed = st.lists(st.sampled_from(PLATFORMS), min_size=1, max_size=4, unique=True)
    return st.one_of(st.just(""), st.builds(lambda items, comma: comma.join(items), listed,
                                            st.sampled_from([",", ", ", " , "])))


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


TEMPLATE_PINS = {normalized(pin.split("==")[0]) for line in PREFECT_LINES
                 for pin in line["requirements"].values()} | {"prefect"}


@st.composite
def extra_requirements(draw):
    """Exact pins (name==version, different packages, none the template pins itself), separated by
    spaces, commas, tabs or line breaks: requirements.txt gets one per line."""
    names = draw(st.lists(
        st.one_of(st.sampled_from(["pandas", "requests", "numpy", "SQLAlchemy", "scikit_learn",
                                   "ruamel.yaml", "Jinja2", "zope.interface", "typing-extensions"]),
                  st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,20}[A-Za-z0-9]", fullmatch=True)),
        max_size=4, unique_by=normalized).map(lambda names: [n for n in names
                                                             if normalized(n) not in TEMPLATE_PINS]))
    versions = st.one_of(st.from_regex(r"[0-9]{1,3}(?:\.[0-9]{1,3}){0,3}", fullmatch=True),
                         st.sampled_from(["2.2.3", "1.0rc1", "2.0.post1", "0.1.dev3", "1.0+local.1"]))
    pins = [f"{name}=={draw(versions)}" for name in names]
    separators = st.sampled_from([" ", ",", ", ", " , ", "  ", "\n", "\t", ",\n"])
    text = "".join(pin + draw(separators) for pin in pins)
    return draw(st.sampled_from(["", " "])) + text.rstrip() if pins else draw(st.sampled_from(["", " "]))


# ---------------------------------------------------------------------------------------------
# Whole answer sets
# ---------------------------------------------------------------------------------------------

def default_slug(project_name: str) -> str:
    """project_slug's default, as cookiecutter.json derives it."""
    return slugify(project_name, max_length=DERIVED_SLUG_MAX)


@st.composite
def acceptable_answers(draw, combinations: list[dict]) -> dict:
    """An answer set the template must accept. A free-text answer is left out (its default then
    applies) as often as it is given, except where the default would be refused: a project_name
    with no letters or digits gets an explicit project_slug, a slug that makes no importable
    package gets an explicit package_name."""
    answers = dict(draw(st.sampled_from(combinations)))
    answers["project_name"] = draw(one_line_text())
    if draw(st.booleans()) or not default_slug(answers["project_name"]):
        answers["project_slug"] = draw(slugs())
    slug = answers.get("project_slug") or default_slug(answers["project_name"])
    if draw(st.booleans()) or not importable_package(slug.replace("-", "_")):
        answers["package_name"] = draw(package_names())
    for key, strategy in [("description", one_line_text()), ("author_name", one_line_text(0)),
                          ("author_email", email_addresses()), ("extra_requirements", extra_requirements()),
                          ("image_registry", image_registries()),
                          ("base_image", base_images(answers["python_version"]))]:
        if draw(st.booleans()):
            answers[key] = draw(strategy)
    if draw(st.booleans()):
        answers["image_name"] = draw(image_names())
    if draw(st.booleans()):
        answers["platform"] = draw(platforms())
    return answers


def unsafe(text_strategy):
    """Text with something no one-line field may hold, somewhere in it."""
    poison = st.one_of(
        st.sampled_from(["\n", "\r", "\r\n", "\t", "\x00", "\x1b[31m", "\x7f", "\x85", "\u2028",
                         "\u2029", "{{", "{%", "{#", "{{ cookiecutter.project_slug }}",
                         "{% raw %}", "{#-", "{{ build-image.image }}"]),
        st.characters(categories=("Cc", "Zl", "Zp")),
    )
    return st.builds(lambda text, bad, where: text[:where] + bad + text[where:] if where >= 0 else
                     text + bad, text_strategy, poison, st.integers(-1, 20))


@st.composite
def unsafe_answers(draw, combinations: list[dict]) -> tuple[dict, str]:
    """(answers, the prompt the hook must name): an acceptable set with one answer made unsafe."""
    answers = draw(acceptable_answers(combinations))
    key = draw(st.sampled_from(ONE_LINE + ("project_name-unnamed", "free-text-jinja", "surrounding-space",
                                           "not-one-folder", "too-long")))
    if key == "project_name-unnamed":
        # Nothing slugify can make a directory name from; the slug left to its default.
        nameless = st.sampled_from(["🚀", "---", "!", "...", "\u200f", "★", "”"])
        answers["project_name"] = draw(st.lists(nameless, min_size=1, max_size=5).map("".join))
        answers.pop("project_slug", None)
        answers.pop("package_name", None)
        return answers, "project_name"
    if key == "free-text-jinja":
        key = draw(st.sampled_from(FREE_TEXT))
        value = answers.get(key) or "x"
        answers[key] = value + draw(st.sampled_from(list(JINJA_MARKERS) + ["{{ x }}", "{% if %}"]))
        return answers, key
    if key == "not-one-folder":
        # A folder's name that is a path. (Not '.', '..' or one ending in '..' for the slug:
        # cookiecutter itself refuses the first two, and removes the output directory for the third.)
        key = draw(st.sampled_from(("project_slug", "package_name")))
        value = answers.get(key) or ("flows" if key == "project_slug" else "flows_pkg")
        parts = draw(st.lists(st.one_of(st.just(value), slugs(12)), min_size=1, max_size=3))
        joined = draw(st.sampled_from(["/", "\\"])).join([*parts, value])
        answers[key] = draw(st.sampled_from([joined, f"{parts[0]}/../{value}"]))
        if key == "package_name":
            answers[key] = draw(st.sampled_from([answers[key], "..", ".", "\0" + value]))
        return answers, key
    if key == "too-long":
        # A package folder name beyond NAME_MAX (the slug's is cookiecutter's, before any hook).
        answers["package_name"] = "p" * draw(st.integers(256, 400))
        return answers, "package_name"
    if key == "surrounding-space":
        key = draw(st.sampled_from(ONE_LINE))
        value = answers.get(key) or "x"
        answers[key] = draw(st.sampled_from([" ", "\u00a0", "  ", "\u3000"])) + value if draw(
            st.booleans()) else value + " "
        return answers, key
    answers[key] = draw(unsafe(one_line_text()))
    return answers, key


@st.composite
def rendered_answers(draw, combinations: list[dict]) -> tuple[dict, str]:
    """(answers given as extra context, the prompt the hook must name): an acceptable set with one
    free-text answer holding Jinja syntax that renders (cookiecutter renders extra context before
    the hooks see it), into text other than itself."""
    answers = draw(acceptable_answers(combinations))
    key = draw(st.sampled_from(FREE_TEXT + ("prefect_version",)))
    value = answers.get(key) or "x"
    jinja = draw(st.sampled_from(["{{ '' }}", "{# a note #}", "{% if true %}{% endif %}", "{{ 7 * 7 }}",
                                  "{{ cookiecutter._prefect_default }}", "{%- raw -%}{%- endraw -%}"]))
    where = draw(st.integers(0, len(value)))
    answers[key] = value[:where] + jinja + value[where:]
    return answers, key
