"""The settings engine: what a wrong settings file is told, and that every default reads back as itself."""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from coordinator.core import config
from coordinator.gatekeeper import rules
from coordinator.wire.errors import ConfigError
from coordinator.wire.settings import (
    Choice,
    Duration,
    Flag,
    Lines,
    Number,
    Sections,
    Table,
    Text,
    Whole,
    plain,
    read,
    read_keys,
    setting,
)
from coordinator.wire.times import MAX_SECONDS
from sidecar.runtime.config import SidecarConfig


@dataclass(frozen=True)
class Backoff:
    max_retries: int = setting(3, Whole(100))
    base: int = setting(30, Duration(minimum=1))
    share: float = setting(0.5, Number(1))
    strict: bool = setting(False, Flag())
    mode: str = setting("fail", Choice(("fail", "retry")))
    tags: tuple = setting((), Lines(Text("a tag", r"[a-z]+")))


@dataclass(frozen=True)
class Pool:
    name: str = setting("main", Text("a pool name", r"[a-z]+"))
    owners: dict = setting({}, Table(Text("a login", r"[A-Za-z]+"), Choice(("admin", "member")),
                                     fold=str.lower, twice="logins ignore case"))


@dataclass(frozen=True)
class Settings:
    retry: Backoff = Backoff()
    pools: dict = setting({"main": Pool()}, Sections(Pool, names=("main", "spare")))


def _refused(raw) -> str:
    with pytest.raises(ConfigError) as raised:
        read(Settings, raw, "s.yaml")
    return str(raised.value)


@pytest.mark.parametrize("raw, message", [
    ({"retry": {"max_retires": 3}}, "s.yaml: retry.max_retires: unknown key; did you mean 'retry.max_retries'?"),
    ({"pools": {"main": {"nmae": "x"}}}, "s.yaml: pools.main.nmae: unknown key; did you mean 'pools.main.name'?"),
    ({"pools": {"mian": {}}}, "s.yaml: pools.mian: unknown key; did you mean 'pools.main'?"),
    ({"zzz": 1}, "s.yaml: zzz: unknown key; known keys: retry, pools"),
    ({"retry": {"max_retries": "3"}}, "s.yaml: retry.max_retries: expected a whole number from 0 to 100, got '3'"),
    ({"retry": {"max_retries": True}}, "retry.max_retries: expected a whole number from 0 to 100, got True"),
    ({"retry": {"max_retries": 101}}, "s.yaml: retry.max_retries: expected a whole number from 0 to 100, got 101"),
    ({"retry": {"share": 1.5}}, "s.yaml: retry.share: expected a number from 0 to 1, got 1.5"),
    ({"retry": {"strict": "yes"}}, "s.yaml: retry.strict: expected true or false, got 'yes'"),
    ({"retry": {"base": "soon"}}, "s.yaml: retry.base: 'soon' is not a duration; write e.g. 30s, 30m, 2h, 1d"),
    ({"retry": {"base": "0s"}}, "s.yaml: retry.base: must be at least 1s"),
    ({"retry": {"mode": "never"}}, "s.yaml: retry.mode: 'never' is not one of fail, retry"),
    ({"retry": {"tags": "a"}}, "s.yaml: retry.tags: expected a list of at most 500 lines of text, got 'a'"),
    ({"retry": {"tags": ["ok", "Not Ok"]}}, "s.yaml: retry.tags: 'Not Ok' is not a tag"),
    ({"retry": [1, 2]}, "s.yaml: retry: must be a mapping of settings"),
    ({"pools": ["main"]}, "s.yaml: pools: must be a mapping of settings"),
    ({"pools": {"spare": 3}}, "s.yaml: pools.spare: must be a mapping of settings"),
    ({"pools": {"main": {"owners": {"ada": "root"}}}}, "s.yaml: pools.main.owners.ada: 'root' is not one of admin"),
    ({"pools": {"main": {"owners": {"ada": "admin", "ADA": "member"}}}},
     "s.yaml: pools.main.owners.ADA: named twice (logins ignore case)"),
    ([1], "s.yaml: file: must be a mapping of settings"),
])
def test_a_wrong_setting_names_the_full_dotted_key_and_what_is_wanted(raw, message):
    assert message in _refused(raw)


def test_values_read_over_the_defaults_and_unset_keys_keep_them():
    got = read(Settings, {"retry": {"base": "2m", "tags": ["a"]}, "pools": {"spare": {"owners": {"Ada": "admin"}}}},
               "s.yaml")
    assert got.retry == Backoff(base=120, tags=("a",))
    assert got.pools == {"main": Pool(), "spare": Pool(owners={"ada": "admin"})}
    assert read(Settings, {"retry": None}, "s.yaml") == Settings()


def test_a_quoted_value_is_cut_short_in_the_error():
    assert len(_refused({"retry": {"max_retries": "x" * 5000}})) < 200


def test_read_keys_returns_only_the_keys_set_and_refuses_a_missing_required_one():
    @dataclass(frozen=True)
    class Agent:
        name: str = setting(kind=Text("a name"), required=True)
        heartbeat: int = setting(30, Duration())

    assert read_keys(Agent, {"name": "ada", "secret_file": "s"}, "a.yaml", {"secret_file": Text()}) == \
        {"name": "ada", "secret_file": "s"}
    with pytest.raises(ConfigError, match="a.yaml: name: is required"):
        read_keys(Agent, {"heartbeat": 5}, "a.yaml")
    with pytest.raises(ConfigError, match="a.yaml: secret_fil: unknown key; did you mean 'secret_file'"):
        read_keys(Agent, {"name": "ada", "secret_fil": "s"}, "a.yaml", {"secret_file": Text()})


def _sections(cls) -> list[type]:
    """cls and every section class below it."""
    found = [cls]
    for f in fields(cls):
        default = getattr(cls(), f.name)
        for value in (default.values() if isinstance(default, dict) else [default]):
            if is_dataclass(value) and type(value) not in found:
                found += [c for c in _sections(type(value)) if c not in found]
    return found


SECTIONS = [*_sections(config.Config), *_sections(rules.Rules), *_sections(Settings)]


@pytest.mark.parametrize("cls", SECTIONS, ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_default_section_reads_back_as_itself_through_yaml(cls):
    assert read(cls, yaml.safe_load(yaml.safe_dump(plain(cls()))), "x.yaml") == cls()


def _strategy(kind):
    if isinstance(kind, Whole):
        return st.integers(kind.minimum, kind.maximum)
    if isinstance(kind, Number):
        return st.floats(0, kind.maximum)
    if isinstance(kind, Flag):
        return st.booleans()
    if isinstance(kind, Duration):
        return st.integers(kind.minimum, MAX_SECONDS) | (st.none() if kind.nullable else st.nothing())
    if isinstance(kind, Choice):
        return st.sampled_from(kind.choices)
    return None


@st.composite
def _instances(draw):
    cls = draw(st.sampled_from(SECTIONS))
    changes = {}
    for f in fields(cls):
        strategy = _strategy(f.metadata.get("kind"))
        if strategy is not None and draw(st.booleans()):
            changes[f.name] = draw(strategy)
    return replace(cls(), **changes)


@given(_instances())
def test_any_section_of_valid_values_reads_back_as_itself(instance):
    assert read(type(instance), plain(instance), "x.yaml") == instance


def test_the_sidecar_defaults_read_back_as_themselves(tmp_path):
    from sidecar.runtime.config import parse_config

    keys = {f.name for f in fields(SidecarConfig) if f.metadata.get("kind") is not None}
    given_ = {"hub": "http://127.0.0.1:8765", "agent": "ada", "token": "t", "command": ["run", "{task_file}"],
              "env": {"A": "1"}}
    base = parse_config(given_, tmp_path, "sidecar.yaml")
    again = parse_config({**{k: v for k, v in plain(base).items() if k in keys}, "token": "t",
                          "state_dir": str(base.state_dir), "env": dict(base.env)}, tmp_path, "sidecar.yaml")
    assert again == base


def test_the_sidecar_reads_every_token_form_it_read_before(tmp_path, monkeypatch):
    """A token left empty for the environment's, a block scalar's newline, a bare number, and an
    empty workdir (the config's own folder) are read as before the one engine."""
    from sidecar.runtime.config import parse_config

    doc = {"hub": "http://127.0.0.1:1", "agent": "ada", "command": ["x"]}
    assert parse_config({**doc, "token": "acm_ag_1\n"}, tmp_path, "s.yaml").token == "acm_ag_1"
    assert parse_config({**doc, "token": 12345}, tmp_path, "s.yaml").token == "12345"
    assert parse_config({**doc, "token": "t", "workdir": ""}, tmp_path, "s.yaml").workdir == tmp_path
    monkeypatch.setenv("AGENTCOM_AGENT_TOKEN", "from-env")
    assert parse_config({**doc, "token": ""}, tmp_path, "s.yaml").token == "from-env"
