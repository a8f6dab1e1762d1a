"""[pure] The text the sidecar adds to a task's prompt: the result contract in a few lines.

It is all the protocol an agent has to read, so every word costs tokens on every task; the
smoke harness counts it (docs/agent-results.md shows it whole).
"""
from __future__ import annotations

FOOTER = """

---
AgentCom task {task_id}, attempt {attempt}. Report with the `agentcom-report` command:
- when finished: agentcom-report done --summary "what you did" [--pr-url URL] [--tokens-in N --tokens-out N --model NAME]
- if you cannot finish: agentcom-report failed --reason "why" [--permanent] (permanent: retrying cannot help)
- now and then while working: agentcom-report progress "short note"
- waiting for a human: agentcom-report blocked "what you need"
Work on a branch named agentcom/{task_id}: this task may run more than once.
"""


def agent_prompt(task: dict, attempt: int, footer: bool) -> str:
    """The prompt the agent gets: the task's prompt, then (unless turned off) the footer."""
    text = str(task.get("prompt") or task.get("title") or "")
    if not footer:
        return text
    return text.rstrip("\n") + FOOTER.format(task_id=task["id"], attempt=attempt)
