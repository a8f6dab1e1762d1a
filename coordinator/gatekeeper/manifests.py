"""[pure] Dependency manifests of common ecosystems, and the package names a diff's lines name.

A name on an added line that no removed line of the same file names is a new dependency; a
version bump removes and adds the same name, so it is not one.
"""
from __future__ import annotations

import re

_VERSIONISH = r"(?:[\^~<>=!*]|\d|latest|next|npm:|git|github:|file:|link:|workspace:|https?:)"
_TOML_META = {"name", "version", "edition", "authors", "description", "license", "readme", "homepage",
              "repository", "documentation", "keywords", "categories", "requires-python", "python",
              "build-backend", "requires", "rust-version", "publish", "include", "exclude", "workspace",
              "resolver", "members", "default-run", "packages"}

_PY_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;@]|$)")
_PY_REQ_OTHER = re.compile(r"^\s*(?:-e\s+|--editable\s+)?((?:git\+|https?://|file:)\S+)")
_QUOTED_REQ = re.compile(r"^\s*[\"']([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*[^\"']*[\"']\s*,?\s*$")
_JSON_DEP = re.compile(r"^\s*\"(@?[A-Za-z0-9][\w./@-]*)\"\s*:\s*\"" + _VERSIONISH)
_TOML_DEP = re.compile(r"^\s*([A-Za-z0-9][\w.-]*)\s*=\s*(?:\"" + _VERSIONISH + r"|\{)")
_GO_DEP = re.compile(r"^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]{2,}/\S+)\s+v\d")
_GEM = re.compile(r"^\s*gem\s+[\"']([\w.-]+)[\"']")
_GRADLE = re.compile(r"^\s*(?:implementation|api|compile|runtimeOnly|compileOnly|testImplementation|"
                     r"annotationProcessor|kapt)\s*\(?\s*[\"']([^\"':]+:[^\"':]+)")
_MAVEN = re.compile(r"<artifactId>\s*([\w.-]+)\s*</artifactId>")


def _kind(filename: str) -> str | None:
    name = filename.rsplit("/", 1)[-1]
    if re.fullmatch(r"(requirements|constraints)[\w.-]*\.(txt|in)", name) or \
            filename.startswith("requirements/") and name.endswith(".txt"):
        return "requirements"
    return {"pyproject.toml": "toml", "Cargo.toml": "toml", "Pipfile": "toml", "setup.py": "quoted",
            "setup.cfg": "requirements", "package.json": "json", "composer.json": "json", "go.mod": "go",
            "Gemfile": "gem", "build.gradle": "gradle", "build.gradle.kts": "gradle",
            "pom.xml": "maven"}.get(name)


def is_manifest(filename: str) -> bool:
    return _kind(filename) is not None


def names(filename: str, line: str) -> str | None:
    """The dependency a manifest line names, or None when it names none."""
    kind = _kind(filename)
    text = line.split("#")[0] if kind == "requirements" else line
    if kind == "requirements":
        if text.strip().startswith(("-r", "-c", "--", "[")) and not _PY_REQ_OTHER.match(text):
            return None
        m = _PY_REQ_OTHER.match(text) or _PY_REQ.match(text)
    elif kind == "toml":
        m = _TOML_DEP.match(text) or _QUOTED_REQ.match(text)
        if m and m.group(1).lower() in _TOML_META:
            return None
    elif kind == "quoted":
        m = _QUOTED_REQ.match(text)
    elif kind == "json":
        m = _JSON_DEP.match(text)
    else:
        m = {"go": _GO_DEP, "gem": _GEM, "gradle": _GRADLE, "maven": _MAVEN}[kind].search(text) if kind else None
    return m.group(1).lower().replace("_", "-") if m else None
