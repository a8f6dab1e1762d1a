"""The layer rules and their checker: which of our packages each layer may import, directly or
through anything it imports, and which third-party modules it must never load.

`violations(root)` reads every module's imports (at any depth, relative ones resolved) and imports
every module in a fresh interpreter, one forked child each, to see what it really loads.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WIRE_PURE = ("coordinator.wire.errors", "coordinator.wire.times", "coordinator.wire.plain",
             "coordinator.wire.protocol", "coordinator.wire.jsonbody", "coordinator.wire.names",
             "coordinator.wire.settings")
GIT_OR_SERVER = frozenset({"pygit2", "flask", "waitress", "watchdog", "filelock", "click", "prometheus_client"})
# standard modules that do I/O or read the clock: a pure module names none of them (it is given
# the time and a random generator as arguments)
STDLIB_IO = frozenset({"os", "subprocess", "socket", "threading", "time", "shutil", "signal", "ctypes", "urllib",
                       "http", "tempfile", "select", "selectors", "asyncio", "multiprocessing"})


@dataclass(frozen=True)
class Layer:
    package: str
    may_import: tuple[str, ...]          # our packages or modules, besides its own
    never_loads: frozenset[str] = frozenset()  # third-party top-level modules
    pure: bool = False                   # names no standard I/O module (STDLIB_IO)
    never_names: tuple[str, ...] = ()    # attributes it must not reach for (e.g. the hub's store)
    may_load: tuple[str, ...] = ()       # loaded through what it imports, never imported by itself


_LOW = ("coordinator.wire", "coordinator.core", "coordinator.gatekeeper")
LAYERS = (
    Layer("coordinator.wire", (), GIT_OR_SERVER - {"waitress"}),
    Layer("coordinator.core", WIRE_PURE, GIT_OR_SERVER, pure=True),
    Layer("coordinator.gatekeeper", (*WIRE_PURE, "coordinator.core"), GIT_OR_SERVER, pure=True),
    Layer("coordinator.repo", _LOW, frozenset({"flask", "waitress", "watchdog", "click"})),
    Layer("coordinator.forge", ("coordinator.wire", "coordinator.core"), GIT_OR_SERVER - {"waitress"}),
    Layer("coordinator.hub", (*_LOW, "coordinator.repo", "coordinator.forge"),
          frozenset({"flask", "waitress", "click"})),
    Layer("coordinator.web", (*_LOW, "coordinator.forge", "coordinator.hub"), frozenset({"watchdog"}),
          never_names=(".store", ".git"), may_load=("coordinator.repo",)),
    Layer("coordinator.reviewer", (*_LOW, "coordinator.repo.lock", "coordinator.repo.checkout", "coordinator.forge",
                                   "coordinator.hub"),
          frozenset({"flask", "click"}), never_names=(".store", ".git"), may_load=("coordinator.repo",)),
    Layer("coordinator.cli", ("coordinator",)),
    # the sidecar: the wire contract and the forges (the pure core comes with them), never the repo
    Layer("sidecar.gitflow", ("coordinator.wire", "coordinator.forge"), GIT_OR_SERVER - {"waitress"},
          may_load=("coordinator.core",)),
    Layer("sidecar.runtime", ("coordinator.wire", "coordinator.forge", "sidecar.gitflow"),
          frozenset({"pygit2", "watchdog", "prometheus_client"}), may_load=("coordinator.core",)),
    Layer("sidecar.onboard", ("coordinator.wire", "coordinator.forge", "coordinator.repo.tokens",
                              "sidecar.gitflow", "sidecar.runtime"), frozenset({"pygit2", "watchdog"}),
          may_load=("coordinator.core", "coordinator.repo.lock")),
    # the local fleet is a development harness: it starts hubs, so it may use any of the coordinator
    Layer("sidecar.fleet", ("coordinator", "sidecar.gitflow", "sidecar.runtime", "sidecar.onboard")),
)
TOP = ("coordinator", "sidecar")


def layer_of(module: str) -> Layer | None:
    return next((layer for layer in LAYERS if _within(module, layer.package)), None)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def modules(root: Path) -> dict[str, Path]:
    """Every module of ours under `root`, by dotted name (packages by their own name)."""
    found = {}
    for top in TOP:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def named_imports(name: str, path: Path, known=()) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, anywhere in it, relative ones made absolute;
    `from P import x` counts as P.x when that is a module, else as P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out += [(node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known or not node.module else base)
                    for a in node.names]
    return out


_LOADER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
before = set(sys.modules)
out = {}
for name in json.loads(sys.argv[2]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            __import__(name)
            loaded = sorted(set(sys.modules) - before)
        except BaseException as e:
            loaded = ["!" + type(e).__name__ + ": " + str(e)]
        os.write(write, json.dumps(loaded).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        out[name] = json.loads(f.read())
    os.waitpid(pid, 0)
print(json.dumps(out))
"""


def loaded(root: Path, names: list[str]) -> dict[str, list[str]]:
    """What importing each module loads, each in a fresh interpreter's copy (forked before any import)."""
    done = subprocess.run([sys.executable, "-I", "-c", _LOADER, str(root), json.dumps(names)],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def _allowed(layer: Layer, module: str, loaded: bool = False) -> bool:
    """May `layer` import (or, with `loaded`, load) `module`? A parent package of an allowed module is."""
    allowed = (layer.package, *layer.may_import, *(layer.may_load if loaded else ()))
    return any(_within(module, p) or _within(p, module) for p in allowed)


def violations(root: Path) -> list[str]:
    """Every broken rule, one line each: the module, what it imports or loads, and the rule."""
    found = modules(root)
    problems = []
    for name, path in found.items():
        layer = layer_of(name)
        if layer is None:
            continue
        rel = path.relative_to(root)
        for line, imported in named_imports(name, path, found):
            top = imported.split(".")[0]
            if top in TOP and imported not in TOP and not _allowed(layer, imported):
                problems.append(f"{rel}:{line} imports {imported}: {layer.package} may import only "
                                f"{', '.join(layer.may_import) or 'itself'}")
            if layer.pure and top in STDLIB_IO:
                problems.append(f"{rel}:{line} imports {imported}: "
                                f"{layer.package} is pure (no I/O, clock or randomness)")
        text = path.read_text()
        for attribute in layer.never_names:
            if f"hub{attribute}" in text:
                problems.append(f"{rel} reaches for hub{attribute}: {layer.package} goes through the hub's own methods")
    for name, names in loaded(root, [n for n in found if layer_of(n)]).items():
        layer = layer_of(name)
        if names and names[0].startswith("!"):
            problems.append(f"{name} does not import: {names[0][1:]}")
            continue
        ours = [m for m in names if m.split(".")[0] in TOP and m not in TOP and not _allowed(layer, m, loaded=True)]
        third = sorted({m.split(".")[0] for m in names} & layer.never_loads)
        if ours:
            problems.append(f"importing {name} loads {', '.join(ours[:5])}: {layer.package} may load only "
                            f"{', '.join((*layer.may_import, *layer.may_load)) or 'itself'}")
        if third:
            problems.append(f"importing {name} loads {', '.join(third)}, which {layer.package} never may")
    return problems
