"""The AgentcomError tree: every error we raise on purpose, each carrying its fields."""
from __future__ import annotations


class AgentcomError(Exception):
    """Base of every error AgentCom raises on purpose; the CLI prints it and exits 1."""

    exit_code = 1


class UsageError(AgentcomError):
    """The command line or a request asked for something that cannot be done as asked."""

    exit_code = 2


class ConfigError(AgentcomError):
    """agentcom.yaml (or another settings input) is wrong; says which key and why."""

    def __init__(self, path: str, key: str, problem: str):
        self.path, self.key, self.problem = path, key, problem
        super().__init__(f"{path}: {key}: {problem}")


class InvalidTask(AgentcomError):
    """A task file or submission broke the task format; `problems` lists each issue."""

    def __init__(self, where: str, problems: list[str]):
        self.where, self.problems = where, problems
        super().__init__(f"{where}: " + "; ".join(problems))


class TaskNotFound(AgentcomError):
    def __init__(self, task_id: str):
        self.task_id = task_id
        super().__init__(f"no task with id '{task_id}' (see `agentcom status` for the ids)")


class IllegalTransition(AgentcomError):
    """A requested move is not allowed from the task's current state."""

    def __init__(self, task_id: str, state: str, wanted: str, hint: str = ""):
        self.task_id, self.state, self.wanted = task_id, state, wanted
        super().__init__(f"task {task_id} is {state}; cannot {wanted}" + (f" ({hint})" if hint else ""))


class CoordinatorBusy(AgentcomError):
    """Another live coordinator holds the single-writer lock on this repo: `why` says who and what
    to do (repo/lock.py); `role` is the holder's ("hub", "cli", ...; None when it is not known)."""

    def __init__(self, repo: str, holder: str, why: str | None = None, role: str | None = None):
        self.repo, self.holder, self.role = repo, holder, role
        super().__init__(why or f"another coordinator holds {repo} ({holder}); talk to it with --hub URL")


class RefMoved(AgentcomError):
    """main moved under us (a push landed) between reading it and updating it."""

    def __init__(self, expected: str, got: str):
        self.expected, self.got = expected, got
        super().__init__(f"main moved from {expected[:10]} to {got[:10]} during a commit")


class NotARepo(AgentcomError):
    def __init__(self, path: str):
        self.path = path
        super().__init__(
            f"{path} is not an AgentCom coordination repo; `agentcom init {path}` creates one "
            "(or adopts a mirror of one)")


class HubUnavailable(AgentcomError):
    def __init__(self, url: str, why: str):
        self.url, self.why = url, why
        super().__init__(f"hub at {url} did not answer: {why}")


class HubRefused(AgentcomError):
    """The hub answered with an error; carries its HTTP status, error name and message."""

    def __init__(self, status: int, message: str, error: str | None = None):
        self.status, self.message, self.error = status, message, error
        super().__init__(message)


class AgentNotFound(AgentcomError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(f"no agent named '{name}' is registered (`agentcom agent list` shows them; "
                         "`agentcom agent register NAME` registers one)")


class StaleReport(AgentcomError):
    """A report from an agent or attempt that no longer holds the task; nothing was changed."""

    def __init__(self, task_id: str, agent: str, attempt: int, why: str):
        self.task_id, self.agent, self.attempt = task_id, agent, attempt
        super().__init__(f"report refused for task {task_id} (agent {agent}, attempt {attempt}): {why}; "
                         "nothing was changed; stop working on it")
