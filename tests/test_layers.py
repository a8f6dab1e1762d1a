"""The layers hold: each imports only the layers below it, directly or through anything it
imports, and loads none of the modules its layer must not (the sidecar's runtime never loads
pygit2; the pure core loads no I/O module). The rules are in tests/support/layers.py."""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.layers import LAYERS, layer_of, modules, violations

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_is_in_a_layer_and_every_layer_says_what_it_may_import():
    unplaced = [name for name in modules(ROOT) if layer_of(name) is None and name not in ("coordinator", "sidecar")]
    assert not unplaced, f"modules outside every layer: {unplaced}"
    for layer in LAYERS:
        init = ROOT / Path(*layer.package.split(".")) / "__init__.py"
        assert len(init.read_text().strip()) > 100, f"{init.relative_to(ROOT)} should say what lives there"


def test_every_layer_keeps_its_rules():
    assert violations(ROOT) == []


def test_a_rule_broken_on_purpose_is_named(tmp_path):
    """The checker is real: copy the tree, break one rule of each kind, and see each named."""
    for part in ("coordinator", "sidecar", "queue-repo-template"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    _append(tmp_path / "sidecar/runtime/prompt.py", "import pygit2\n")
    _append(tmp_path / "coordinator/core/retry.py", "import time\n")
    _append(tmp_path / "coordinator/core/sweeper.py", "def later():\n    from ..hub import hub\n")
    _append(tmp_path / "coordinator/web/pages.py", "def head(hub):\n    return hub.store.base\n")
    _append(tmp_path / "coordinator/wire/jsonbody.py", "from coordinator.core import seal\n")
    found = "\n".join(violations(tmp_path))
    assert "importing sidecar.runtime.prompt loads pygit2" in found
    assert "coordinator/core/retry.py:" in found and "imports time: coordinator.core is pure" in found
    assert "coordinator/core/sweeper.py:" in found and "imports coordinator.hub.hub" in found
    assert "coordinator/web/pages.py reaches for hub.store" in found
    assert "coordinator/wire/jsonbody.py:" in found and "imports coordinator.core.seal: coordinator.wire may" in found
    assert "importing coordinator.wire.jsonbody loads coordinator.core, coordinator.core.seal" in found


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text)
