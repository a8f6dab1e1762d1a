"""The script an agent command runs through an interpreter (`python agent.py`, `bash run.sh`,
`uv run tool.py`), so the self-test can say the script is missing before any task is sent.

The rule is narrow on purpose, so a prompt or a flag is never taken for a file: only the first
argument after a known interpreter (and its subcommand, for `uv run`, `deno run`, `bun run`),
after only the flags known to take no value; any other option (`-c`, `-m`, `-e`, `-W x`, ...),
`--`, or a {placeholder} means there is no script to check. For runners that also run named
commands (`uv run pytest`, `bun run dev`), only an argument with a script's suffix counts; for
`deno run`, one that is no URL or specifier. A relative script is checked against the workdir,
and not at all without one (each run then starts in a folder of its own).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

# program name → (flags that take no value, what a script must look like: None = any argument)
_PYTHON = (r"-[uBOsSEIqbdvxPRi]+|-OO", None)
_SHELL = (r"-[euxvlnp]+|--login|--norc|--noprofile|--posix", None)
_INTERPRETERS = {
    r"python(\d+(\.\d+)?)?|pypy3?": _PYTHON,
    r"(ba|da|z|k|)sh": _SHELL,
    r"node(js)?": (r"--no-warnings|--enable-source-maps|--no-deprecation", None),
    r"ruby[\d.]*": (r"-[wWvd]+", None),
    r"perl[\d.]*": (r"-[wWtTX]+", None),
    r"php[\d.]*": (r"-[qn]+", None),
}
_SCRIPT_SUFFIX = r".+\.(py|pyw|js|mjs|cjs|ts|mts|cts|jsx|tsx)"
_RUNNERS = {  # program, subcommand → (flags that take no value, what a script must look like)
    ("uv", "run"): (r"--no-project|--isolated|--no-sync|--frozen|--locked|-q|--quiet", r".+\.pyw?"),
    ("deno", "run"): (r"-A|--allow-[a-z-]+|--quiet|-q|--no-check", r"[^:]+"),
    ("bun", "run"): (r"--bun|--silent", _SCRIPT_SUFFIX),
    ("bun", None): (r"--bun|--silent", _SCRIPT_SUFFIX),
}
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def script_argument(argv: tuple[str, ...] | list[str]) -> str | None:
    """The script the command's interpreter will read, by the rule above; None when there is none
    to check."""
    name = os.path.basename(argv[0])
    rest = list(argv[1:])
    rule = next((r for pattern, r in _INTERPRETERS.items() if re.fullmatch(pattern, name)), None)
    if rule is None and rest and (name, rest[0]) in _RUNNERS:
        rule, rest = _RUNNERS[(name, rest[0])], rest[1:]
    elif rule is None:
        rule = _RUNNERS.get((name, None))
    if rule is None:
        return None
    flags, shape = rule
    for arg in rest:
        if re.fullmatch(flags, arg):
            continue
        if arg.startswith("-") or _PLACEHOLDER.search(arg) or (shape and not re.fullmatch(shape, arg)):
            return None  # an option we cannot read past, a task's text, or a named command
        return arg
    return None


def missing_script(argv: tuple[str, ...] | list[str], workdir: Path | None, path_env: str | None = None) -> str | None:
    """What is wrong when the command's script is missing (its path and the fix), else None. A
    shell also looks for a bare script name on PATH, as bash does."""
    script = script_argument(argv)
    if script is None:
        return None
    path = Path(script)
    if not path.is_absolute():
        if workdir is None:
            return None
        path = workdir / path
    if path.exists() or (re.fullmatch(r"(ba|da|z|k|)sh", os.path.basename(argv[0])) and "/" not in script
                         and _on_path(script, path_env)):
        return None
    hint = ("; no shell runs the command, so '~' is not expanded: give the full path" if script.startswith("~")
            else "; create it, or fix the path in the command (relative paths start at the workdir)")
    return f"the script '{script}' of the agent command ({os.path.basename(argv[0])}) is not at {path}{hint}"


def _on_path(name: str, path_env: str | None) -> bool:
    folders = (path_env or os.environ.get("PATH", os.defpath)).split(os.pathsep)
    return any(folder and (Path(folder) / name).is_file() for folder in folders)
