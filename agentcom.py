#!/usr/bin/env python3
"""AgentCom: turns ideas into merged pull requests with a fleet of coding agents.

This file makes its own environment on first use (a virtualenv beside it holding the pinned
requirements), then hands over to the click CLI in `coordinator.cli.commands`, to which each
sidecar folder (runtime, onboard, fleet) adds its own verbs.
`./agentcom.py test` installs the test requirements too and runs the suite; `./agentcom.py lint`
runs ruff with the settings in pyproject.toml.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("AGENTCOM_VENV") or ROOT / ".venv")
VENV_PYTHON = VENV / "bin" / "python"


def _requirements(dev: bool) -> Path:
    return ROOT / ("requirements-dev.txt" if dev else "requirements.txt")


def _stamp(dev: bool) -> Path:
    text = b"".join(p.read_bytes() for p in (_requirements(False), _requirements(True)))
    return VENV / f".agentcom-{'dev' if dev else 'run'}-{hashlib.sha256(text).hexdigest()[:16]}"


def _in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _ensure_venv(dev: bool) -> None:
    """Create the virtualenv and install the pinned requirements unless already done."""
    if _stamp(dev).exists() or (not dev and _stamp(True).exists()):
        return
    if not VENV_PYTHON.exists():
        print(f"agentcom: first run, creating {VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print(f"agentcom: installing {_requirements(dev).name} ...", file=sys.stderr)
    quiet = [] if os.environ.get("AGENTCOM_VERBOSE_INSTALL") else ["--quiet"]
    done = subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--disable-pip-version-check", *quiet,
         "-r", str(_requirements(dev))])
    if done.returncode != 0:
        sys.exit(f"agentcom: installing {_requirements(dev)} failed (exit {done.returncode})")
    for old in VENV.glob(".agentcom-*"):
        old.unlink()
    _stamp(dev).touch()
    # write the new environment out now: the hub flushes the file system on every commit
    # (syncfs), and the first ones would otherwise wait for these hundreds of megabytes
    os.sync()


CHROMIUM = Path("/usr/bin/chromium")


def _ensure_chromium() -> None:
    """The browser tests drive Debian's Chromium: install it (as root, or through `sudo -n`) when
    missing. If that cannot be done, say why in AGENTCOM_CHROMIUM_MISSING; those tests then fail
    under CI and are skipped elsewhere."""
    if CHROMIUM.exists() or os.environ.get("AGENTCOM_CHROMIUM"):
        return
    if os.geteuid() == 0:
        run_as = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        run_as = ["sudo", "-n"]
    else:
        os.environ["AGENTCOM_CHROMIUM_MISSING"] = "not root and no password-less sudo to install it"
        return
    if not shutil.which("apt-get"):
        os.environ["AGENTCOM_CHROMIUM_MISSING"] = "no apt-get on this system"
        return
    print("agentcom: installing chromium for the browser tests (apt-get) ...", file=sys.stderr)
    install = [*run_as, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(install, capture_output=True, text=True, env=env)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([*run_as, "apt-get", "update", "-q"], capture_output=True, env=env)
        done = subprocess.run(install, capture_output=True, text=True, env=env)
    if done.returncode != 0 or not CHROMIUM.exists():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        os.environ["AGENTCOM_CHROMIUM_MISSING"] = f"apt-get install chromium failed: {last[0][:200]}"


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - runs under any python3, to say that 3.11+ is needed
        sys.exit(f"agentcom needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    testing = sys.argv[1:2] == ["test"]
    linting = sys.argv[1:2] == ["lint"]
    _ensure_venv(dev=testing or linting)
    if not _in_venv():
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    if linting:
        os.chdir(ROOT)
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), "-m", "ruff", "check", *(sys.argv[2:] or ["."])])
    if testing:
        os.chdir(ROOT)
        _ensure_chromium()
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), "-m", "pytest", *sys.argv[2:]])
    sys.path.insert(0, str(ROOT))
    from coordinator.cli.commands import main as commands
    from coordinator.cli.commands import run
    from sidecar.fleet import cli as fleet
    from sidecar.onboard import cli as onboard
    from sidecar.runtime import cli as runtime
    for folder in (runtime, onboard, fleet):
        folder.add_commands(commands)
    run()


if __name__ == "__main__":
    main()
