"""A task handed to an agent through a real hub, for tests of what only a task's holder may do."""
from __future__ import annotations

from coordinator.core.agent import registration
from coordinator.core.layout import State
from coordinator.hub.batch import Batch
from tests.support.processes import wait_for


def hand_over(hub, task_id: str, name: str) -> dict:
    """Through an in-process Hub: register agent `name` (if new) and assign it queued task
    `task_id`, as the scheduler would; returns the task."""
    if name not in hub.view.agents:
        hub.call(Batch.register_agent, registration({"name": name}), "test")
    return hub.call(Batch.transition, task_id, State.ASSIGNED, reason="handed over", agent=name)


def agent_holding_a_task(hub, name: str, **fields) -> tuple[str, str]:
    """Register agent `name`, bring it online and wait until the hub hands it a new task with
    `fields`; returns (its token, the task's id)."""
    status, body = hub.request("POST", "/api/agents", {"name": name})
    assert status == 201, body
    token = body["token"]
    assert hub.request("POST", f"/api/agents/{name}/heartbeat", {}, token=token)[0] == 200
    status, body = hub.request("POST", "/api/tasks", {"prompt": "do it", **fields})
    assert status == 201, body
    task_id = body["id"]
    wait_for(lambda: any(a["id"] == task_id for a in
                         hub.request("GET", f"/api/agents/{name}/assignments", token=token)[1]["assignments"]))
    return token, task_id
