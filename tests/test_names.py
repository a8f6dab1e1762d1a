"""The one rule for task ids and agent names (coordinator/wire/names.py), and every place that
applies it agreeing with it."""
import jsonschema
import pytest

from coordinator.core.task import SCHEMA
from coordinator.wire import names
from coordinator.wire.errors import ConfigError, UsageError
from sidecar.runtime.config import parse_config

TRICKY = ["a", "A-1", "T-42", "ada.v2", "x" * 64, "x" * 65, "", ".hidden", "-dash", "_under", "a..b", "..",
          "a.", "a/b", "a b", "é", "CON", "con.txt", "Lpt1", "com9.log", "console", "nul_", "aux.", "a\n",
          "ada\x00", "LPT", "1..", "x" * 63 + "."]


# "a\n" is left out: the schema's `$` is ECMA-262's (end of text), but the Python validator reads it
# as Python's, which also matches before a final newline; task.load applies names.problem as well
@pytest.mark.parametrize("name", [n for n in TRICKY if not n.endswith("\n")])
def test_the_task_schemas_id_rule_agrees_with_names(name):
    id_rule = jsonschema.Draft202012Validator(SCHEMA["properties"]["id"])
    assert id_rule.is_valid(name) == names.is_name(name)


def test_names_refuses_dots_device_names_and_long_names_with_a_reason():
    assert names.problem("ada") is None
    assert "'..'" in names.problem("a..b")
    assert "device name" in names.problem("con.txt")
    assert "1 to 64" in names.problem("x" * 65)
    with pytest.raises(UsageError, match=r"'a\.\.b' is not an agent name \(letters, digits"):
        names.require("a..b", "an agent name")


@pytest.mark.parametrize("name", ["a..b", "CON", "ada..", "x" * 65])
def test_the_sidecar_config_refuses_an_agent_name_the_hub_refuses(tmp_path, name):
    assert not names.is_name(name)  # the hub's rule (registration, paths, the API)
    doc = {"hub": "http://127.0.0.1:8765", "agent": name, "token": "t0ken", "command": ["true"]}
    with pytest.raises(ConfigError, match="agent"):
        parse_config(doc, tmp_path, "sidecar.yaml")


def test_the_sidecar_config_takes_a_name_the_hub_takes(tmp_path):
    doc = {"hub": "http://127.0.0.1:8765", "agent": "ada.v2", "token": "t0ken", "command": ["true"]}
    assert parse_config(doc, tmp_path, "sidecar.yaml").agent == "ada.v2"
