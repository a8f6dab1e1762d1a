"""The steps `add-agent` and `remove-agent` go through: each is printed as it passes, and a
failure names the step, what is wrong and what to do, so nothing can go wrong silently."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from coordinator.wire.errors import AgentcomError


class StepFailed(AgentcomError):
    """One step of onboarding failed; carries the step, the problem and the fix."""

    def __init__(self, step: str, problem: str, fix: str = ""):
        self.step, self.problem, self.fix = step, problem, fix
        super().__init__(f"step '{step}' failed: {problem}" + (f"\n  fix: {fix}" if fix else ""))


@dataclass
class Steps:
    """What passed so far, printed as it happens (unless `quiet`, for --json)."""
    echo: Callable[[str], None]
    quiet: bool = False
    done: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def ok(self, step: str, detail: str) -> None:
        self.done.append({"step": step, "ok": True, "detail": detail})
        if not self.quiet:
            self.echo(f"  ok    {step:<15} {detail}")

    def note(self, step: str, detail: str) -> None:
        """A step that passed with something the user should know (a rotated token, a fallback)."""
        self.done.append({"step": step, "ok": True, "note": True, "detail": detail})
        if not self.quiet:
            self.echo(f"  note  {step:<15} {detail}")

    def failed(self, e: StepFailed) -> dict:
        self.done.append({"step": e.step, "ok": False, "detail": e.problem, "fix": e.fix})
        return {"ok": False, "failed_step": e.step, "problem": e.problem, "fix": e.fix, "steps": self.done}
