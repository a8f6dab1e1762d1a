"""The service files add-agent writes: the cron line (one per agent, marked, `%` escaped, other
lines untouched) and the systemd unit (ExecStart quoting, specifiers escaped)."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from sidecar import crontab, systemd
from sidecar.steps import StepFailed

OTHER = "0 3 * * * backup --all\n# a comment\nMAILTO=ops@example.com\n"


def test_the_cron_line_polls_with_the_config_is_marked_and_escapes_percent():
    line = crontab.line("ada", Path("/home/ada/50% done/ada.yaml"), Path("/home/ada/ada.poll.log"))
    assert line.startswith("* * * * * ") and line.endswith(" # agentcom-sidecar:ada")
    assert "sidecar poll --config '/home/ada/50\\% done/ada.yaml'" in line
    assert ">> /home/ada/ada.poll.log 2>&1" in line


def test_installing_twice_leaves_one_line_and_removing_leaves_the_other_lines_as_they_were():
    first = crontab.line("ada", Path("/a/ada.yaml"), Path("/a/ada.log"))
    moved = crontab.line("ada", Path("/b/ada.yaml"), Path("/b/ada.log"))
    bob = crontab.line("bob", Path("/a/bob.yaml"), Path("/a/bob.log"))
    table = crontab.with_line(crontab.with_line(OTHER, "ada", first), "bob", bob)
    table = crontab.with_line(table, "ada", moved)
    assert table.count("agentcom-sidecar:ada") == 1 and moved in table and first not in table
    assert crontab.without(crontab.without(table, "ada"), "bob") == OTHER


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                        max_size=40), max_size=8))
def test_no_other_line_is_ever_touched(lines):
    table = "".join(x + "\n" for x in lines)
    ours = crontab.line("ada", Path("/a/ada.yaml"), Path("/a/ada.log"))
    kept = [x for x in lines if not x.rstrip().endswith(" # agentcom-sidecar:ada")]
    assert crontab.without(crontab.with_line(table, "ada", ours), "ada") == "".join(x + "\n" for x in kept)


def cron_command(entry: str) -> tuple[str, str]:
    """(the command, its stdin) as cron reads one entry: after the five time fields, an unescaped
    `%` ends the command (the rest, `%` as newlines, is its stdin); `\\%` stands for `%`, and a
    backslash before anything else stays, and escapes nothing more."""
    text = entry.split(" ", 5)[5]
    out, escaped = [], False
    for i, ch in enumerate(text):
        if escaped:
            out[-1:] = [ch] if ch == "%" else [out[-1], ch]
            escaped = False
        elif ch == "%":
            return "".join(out), text[i + 1:].replace("%", "\n")
        else:
            out.append(ch)
            escaped = ch == "\\"
    return "".join(out), ""


PATHS = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0",
                                       whitelist_categories=("L", "N", "P", "S", "Zs"),
                                       whitelist_characters="\n\r\t%\\'\"$ #;&|"), min_size=1, max_size=30)


@given(PATHS, PATHS)
def test_a_cron_line_is_one_line_that_gives_back_the_paths_or_the_path_is_refused(folder, log_name):
    config, log = Path("/home/ada") / folder / "ada.yaml", Path("/tmp") / log_name
    try:
        entry = crontab.line("ada", config, log)
    except StepFailed as e:
        assert e.step == "cron" and "which a crontab line cannot carry" in e.problem
        assert any(c in str(config) + str(log) for c in "\n\r") or "\\%" in str(config) + str(log)
        return
    assert "\n" not in entry and "\r" not in entry and entry.endswith(" # agentcom-sidecar:ada")
    command, stdin = cron_command(entry)
    assert stdin == ""
    words = shlex.split(command, comments=True)
    assert words[-5:] == ["--config", str(config), ">>", str(log), "2>&1"]


@pytest.mark.parametrize("where", ["config", "log"])
@pytest.mark.parametrize("char", ["\n", "\r"])
def test_a_newline_or_carriage_return_in_a_path_is_refused_naming_it(where, char):
    bad = Path(f"/home/ada/x{char}* * * * * evil/ada.{'yaml' if where == 'config' else 'log'}")
    args = (bad, Path("/a/ada.log")) if where == "config" else (Path("/a/ada.yaml"), bad)
    with pytest.raises(StepFailed) as failed:
        crontab.line("ada", *args)
    assert failed.value.step == "cron" and repr(str(bad)) in failed.value.problem
    assert ("a newline" if char == "\n" else "a carriage return") in failed.value.problem


def test_a_marker_for_one_agent_never_matches_another_of_a_longer_name():
    table = crontab.with_line("", "ada-2", crontab.line("ada-2", Path("/a.yaml"), Path("/a.log")))
    assert crontab.without(table, "ada") == table


def test_the_unit_runs_the_sidecar_with_quoted_paths_and_escaped_specifiers(tmp_path):
    config = tmp_path / "my agents" / "100%.yaml"
    text = systemd.unit_text("ada", config)
    [exec_start] = [x for x in text.splitlines() if x.startswith("ExecStart=")]
    argv = [a.replace("%%", "%") for a in shlex.split(exec_start[len("ExecStart="):])]
    assert argv[-3:] == ["sidecar", "--config", str(config)]
    assert "%%.yaml" in exec_start and "KillMode=process" in text


def test_a_path_a_unit_cannot_carry_is_refused_naming_it():
    with pytest.raises(StepFailed, match="holds a character a unit file cannot carry"):
        systemd.unit_text("ada", Path('/home/a"b/ada.yaml'))
