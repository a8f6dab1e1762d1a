"""[pure] The text the sidecar adds to a task's prompt: the result contract in a few lines.

It is all the protocol an agent has to read, so every word costs tokens on every task; the
smoke harness counts it (docs/agent-results.md shows it whole).
"""
from __future__ import annotations

FOOTER = """

---
AgentCom task {task_id}, attempt {attempt}. Report with the `agentcom-report` command:
- when finished: agentcom-report done --summary "what you did" [--pr-url URL] \
[--tokens-in N --tokens-out N --model NAME]
- if you cannot finish: agentcom-report failed --reason "why" [--permanent] (permanent: retrying cannot help)
- now and then while working: agentcom-report progress "short note"
- waiting for a human: agentcom-report blocked "what you need"
Work on a branch named agentcom/{task_id}: this task may run more than once.
"""


BRANCH_FOOTER = """\
You are in a checkout of the target repo on branch {branch}, fresh from its main: commit your \
work there; the sidecar pushes it and opens the pull request after you report done.
"""


def agent_prompt(task: dict, attempt: int, footer: bool, branch: str | None = None) -> str:
    """The prompt the agent gets: the task's prompt, then (unless turned off) the footer; with
    a branch (the git workflow made one), where to commit instead of which branch to make."""
    text = str(task.get("prompt") or task.get("title") or "")
    if not footer:
        return text
    tail = FOOTER.format(task_id=task["id"], attempt=attempt)
    if branch:
        tail = tail.replace(f"Work on a branch named agentcom/{task['id']}: this task may run more than once.\n",
                            BRANCH_FOOTER.format(branch=branch))
    return text.rstrip("\n") + tail
