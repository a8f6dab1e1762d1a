"""Follows tasks through a hub's API: each poll reads the status once, and the history (from
git) of only the tasks whose state, agent or attempt changed, and returns every transition not
seen before, in order. Nothing is missed between polls: the history holds each step."""
from __future__ import annotations

from dataclasses import dataclass, field

END = ("done", "cancelled")


@dataclass
class Step:
    task_id: str
    time: int          # the commit's time, Unix seconds
    frm: str
    to: str
    agent: str | None
    attempt: int
    reason: str
    commit: str


@dataclass
class Flow:
    """`follow_new`: also pick up tasks that others submit while we watch."""
    api: object
    follow_new: bool = False
    seen: dict[str, int] = field(default_factory=dict)       # task → history entries reported
    last: dict[str, tuple] = field(default_factory=dict)     # task → (state, agent, attempt)
    ended: dict[str, str] = field(default_factory=dict)      # task → done | cancelled

    def add(self, task_id: str) -> None:
        self.seen.setdefault(task_id, 0)

    def adopt(self) -> list[dict]:
        """Follow the tasks live now from here on, without their past; returns them (as in status)."""
        tasks = self.api.status()["tasks"]
        for t in tasks:
            self.seen[t["id"]] = len(self.api.history(t["id"]))
            self.last[t["id"]] = (t["state"], t.get("agent"), t.get("attempt"))
        return tasks

    def poll(self) -> list[Step]:
        live = {t["id"]: (t["state"], t.get("agent"), t.get("attempt")) for t in self.api.status()["tasks"]}
        if self.follow_new:
            for task_id in live:
                self.add(task_id)
        steps = []
        for task_id in list(self.seen):
            if task_id in self.ended:
                continue
            now = live.get(task_id, ("gone",))
            if now == self.last.get(task_id):
                continue
            history = self.api.history(task_id)
            for h in history[self.seen[task_id]:]:
                steps.append(Step(task_id, h["time"], h["from"], h["to"], h["agent"], h["attempt"],
                                  h["reason"], h["commit"]))
            self.seen[task_id] = len(history)
            if task_id in live:
                self.last[task_id] = now
            elif history and history[-1]["to"] in END:
                self.ended[task_id] = history[-1]["to"]
            # (gone from the status with no end in its history yet: look again next time)
        return sorted(steps, key=lambda s: s.time)  # stable: each task's own steps stay in order

    def settled(self, task_ids=None) -> bool:
        """Whether every task (or each of `task_ids`) has ended, or is dead: waiting on a human."""
        return all(t in self.ended or self.last.get(t, ("",))[0] == "dead" for t in (task_ids or self.seen))
