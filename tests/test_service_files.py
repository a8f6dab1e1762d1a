"""The service files add-agent writes: the cron line (one per agent, marked, `%` escaped, other
lines untouched) and the systemd unit (ExecStart quoting, specifiers escaped)."""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar.onboard import crontab, systemd
from sidecar.onboard.detach import CLI
from sidecar.onboard.steps import StepFailed
from tests.support import systemd_exec

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


def exec_argv(text: str) -> list[str]:
    [exec_start] = [x for x in text.splitlines() if x.startswith("ExecStart=")]
    return systemd_exec.split(exec_start[len("ExecStart="):])


def test_the_unit_runs_the_sidecar_with_quoted_paths_and_escaped_specifiers(tmp_path):
    config = tmp_path / "my agents" / "it's 100% \"$HOME\" \\ ${X}.yaml"
    text = systemd.unit_text("ada", config)
    assert exec_argv(text) == [sys.executable, str(CLI), "sidecar", "--config", str(config)]
    assert "100%%" in text and "$$HOME" in text and "KillMode=process" in text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("'\"\\%$ {}\t\n"),
               min_size=1, max_size=40))
def test_every_config_path_is_read_back_by_systemd_as_written_or_refused(name):
    config = Path("/home/ada") / name.replace("/", "_") / "ada.yaml"
    try:
        text = systemd.unit_text("ada", config)
    except StepFailed as e:
        assert any(ord(c) < 32 or c == "\x7f" for c in str(config)), e
        assert "control character" in e.problem and repr(str(config)) in e.problem
        return
    assert exec_argv(text)[-2:] == ["--config", str(config)]


@pytest.mark.parametrize("program", ["/opt/it's/python", '/opt/a"b/python', "/opt/a\\b/python"])
def test_a_program_path_systemd_will_not_run_is_refused_naming_it(program):
    with pytest.raises(StepFailed) as failed:
        systemd.exec_start([program, "sidecar"])
    assert "systemd does not run a program whose path holds a quote or a backslash" in failed.value.problem
    assert repr(program) in failed.value.problem


def test_a_program_path_is_taken_literally_and_its_percent_escaped():
    assert systemd.exec_start(["/opt/$x 50%/python", "a$b"]) == '"/opt/$x 50%%/python" "a$$b"'
    assert systemd_exec.split('"/opt/$x 50%%/python" "a$$b"') == ["/opt/$x 50%/python", "a$b"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_itself_reads_the_unit_and_finds_the_program_at_a_path_with_spaces_percent_and_dollar(tmp_path):
    """systemd-analyze verify parses the unit as systemd does: unbalanced quoting is a fatal error,
    and the program must exist at the path systemd read (so its quoting and `%%` are right)."""
    program = tmp_path / "a dir $HOME 100%" / "python"
    program.parent.mkdir()
    program.symlink_to(sys.executable)
    config = tmp_path / "it's \"my\" $agents \\ 50%" / "ada.yaml"
    unit = tmp_path / "agentcom-ada.service"
    text = systemd.unit_text("ada", config).replace(systemd.exec_start([sys.executable]),
                                                    systemd.exec_start([str(program)]), 1)
    unit.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert exec_argv(text)[0] == str(program) and exec_argv(text)[-1] == str(config)


def test_a_path_a_unit_cannot_carry_is_refused_naming_it():
    with pytest.raises(StepFailed, match="holds a control character, which a unit file cannot carry"):
        systemd.unit_text("ada", Path("/home/a\nb/ada.yaml"))
