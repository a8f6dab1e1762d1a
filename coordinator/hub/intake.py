"""Bringing what arrives into the repo under the coordinator's rules: new task files, human
moves, and anything that broke the rules (kept in rejected/ with the reason, never deleted).

Used at start (a full scan of main) and at the start of every batch of the hub's loop (the diff
since the last head seen). It also holds the settings in force, which a pushed config changes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from coordinator.core.agent import AGENTS_DIR, load_agent, name_of
from coordinator.core.config import CONFIG_FILE, parse_applied
from coordinator.core.layout import (
    FINISHED,
    KEEP,
    MODE_COMMIT,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    Change,
    Entry,
    State,
    is_submission_path,
    lane_of_submission,
    location,
    parse_location,
    rejected_paths,
    state_of,
)
from coordinator.core.receive import ALLOWED_MOVES, Kind, Verdict, judge, unsafe_path
from coordinator.core.task import check_stored, dump, dump_any, load
from coordinator.core.trailers import Transition, event_message, message
from coordinator.core.transitions import move
from coordinator.core.view import Record, Rejection, View
from coordinator.gatekeeper.rules import RULES_FILE
from coordinator.gatekeeper.rules import parse as parse_rules
from coordinator.hub.batch import Journal
from coordinator.hub.tasks import STORED_MAX, Applied, Tasks
from coordinator.repo.gitrepo import GitRepo
from coordinator.repo.store import Store
from coordinator.wire.errors import AgentcomError, ConfigError, InvalidTask
from coordinator.wire.times import format_time, parse_time

log = logging.getLogger("agentcom.hub")


class Intake:
    """Owns taking in main: the start-up scan, catching up with pushes, and the settings in
    force (`applied`), which a pushed config file changes."""

    def __init__(self, git: GitRepo, store: Store, view: View, journal: Journal, tasks: Tasks,
                 applied: Applied, clock: Callable[[], datetime]):
        self.git, self.store, self.view, self.journal = git, store, view, journal
        self.tasks, self.applied, self.clock = tasks, applied, clock
        self._misplaced: list[str] = []

    # --- start, and every batch ------------------------------------------------------------

    def start(self) -> None:
        """Load the view from the coordinator's own last commit, then take in what came after it
        exactly as if it had been pushed while we ran (so start-up and pushes obey one rule set)."""
        head = self.git.head()
        ours = self.git.last_commit_by_coordinator(head)
        self.store.reset(ours if ours is not None else head)
        self.scan()
        if self.store.staged and ours != head:  # our own tree needed repairs: redo it on main itself
            self.store.reset(head)
            self.scan()
        self.catch_up()

    def catch_up(self) -> None:
        """Take in whatever was pushed since the last head we saw."""
        head = self.git.head()
        if head == self.store.base or self.store.staged:
            return  # nothing new, or a batch is under way: the next batch catches up
        base = self.store.base
        if base is not None and not self.git.is_ancestor(base, head):
            log.error("main was rewritten (not a descendant of %s); rescanning", base)
            lost = dict(self.view.tasks)
            self.store.reset(head)
            self.scan()
            self._restore_lost(lost)
            return
        changes = self.git.diff(base, head)
        self.store.reset(head)
        author = self.git.repo[head].author
        self.ingest(changes, f"push by {author.name} <{author.email}> ({str(head)[:10]})")

    def _restore_lost(self, lost: dict[str, Record]) -> None:
        for task_id, record in lost.items():
            if task_id not in self.view.tasks:
                self.journal.stage({record.loc.path: self.git.read(record.oid)},
                                   message(Transition(task_id, record.loc.state.label, record.loc.state.label,
                                                      None, 0, "restored after main was rewritten")))
                self.journal.track(record.loc, record.task)

    # --- a full scan, at start or after history was rewritten -------------------------------

    def scan(self) -> None:
        """Rebuild the view from main's tree and repair whatever breaks the layout."""
        git, tree = self.git, self.store.tree
        self._load_config(tree)  # limits apply to the files read below
        pending: list[tuple[str, Entry, str]] = []
        self._misplaced = []
        self.view.clear()
        for entry in git.files(tree):
            if unsafe_path(entry.path):  # anywhere in the tree: fresh clones fail on it
                pending.append((entry.path, entry, unsafe_path(entry.path)))
                continue
            state = state_of(entry.path)
            name = entry.path.rsplit("/", 1)[-1]
            if name == KEEP:
                continue
            if entry.path.startswith(AGENTS_DIR + "/"):
                self._scan_agent(entry, pending)
                continue
            if state is None:
                continue
            if state is State.REJECTED:
                self._scan_rejected(entry)
            elif state is State.INBOX or entry.mode not in (MODE_FILE, MODE_EXEC):
                pending.append((entry.path, entry, "found in the repo"))
            else:
                self._scan_task(entry, pending)
        self._place_misplaced()
        for path, entry, why in pending:
            if is_submission_path(path):
                self._arrived(Verdict(Kind.SUBMIT, path, new=entry), why)
            else:
                reason = why if path.startswith(AGENTS_DIR + "/") or unsafe_path(path) \
                    else f"{path} is not a task file the coordinator wrote"
                self._arrived(Verdict(Kind.ILLEGAL, path, new=entry, reason=reason), "found in the repo")

    def _scan_agent(self, entry: Entry, pending: list) -> None:
        try:
            if entry.mode not in (MODE_FILE, MODE_EXEC) or name_of(entry.path) is None:
                raise InvalidTask(entry.path, ["agents/ holds only NAME.yaml files the coordinator writes"])
            agent = load_agent(self.git.read(entry.oid), entry.path)
        except InvalidTask as e:
            pending.append((entry.path, entry, "; ".join(e.problems)))
            return
        self.view.put_agent(agent, agent.name)

    def _scan_rejected(self, entry: Entry) -> None:
        if entry.path.endswith(".reason.yaml"):
            try:
                reason = load(self.git.read(entry.oid), entry.path, 1 << 20)
            except InvalidTask:
                reason = {"reason": "unreadable reason file"}
            base = entry.path[: -len(".reason.yaml")]
            self.view.rejected[base] = Rejection(base, reason)

    def _scan_task(self, entry: Entry, pending: list) -> None:
        loc = parse_location(entry.path)
        if loc is None:
            pending.append((entry.path, entry, "found in the repo"))
            return
        doc = None
        if loc.state not in FINISHED:
            try:
                # limits.task_bytes applies at intake; a file already accepted stays valid
                doc = load(self.git.read(entry.oid), entry.path, STORED_MAX)
                if "state" not in doc and loc.state is State.QUEUED:
                    pending.append((entry.path, entry, "put straight into a lane"))
                    return
                check_stored(doc, entry.path, loc.task_id)
            except InvalidTask:
                pending.append((entry.path, entry, "found in the repo"))
                return
        if loc.task_id in self.view.tasks:
            first = self.view.tasks[loc.task_id].loc.path
            self._reject(entry, [f"duplicate of task '{loc.task_id}' at {first}"], "found in the repo")
            return
        self.view.put(Record(loc, entry.oid, doc))
        if doc is not None and (doc["state"] != loc.state.label or
                                (loc.state is State.QUEUED and doc.get("priority") != loc.lane)):
            self._misplaced.append(loc.task_id)

    def _place_misplaced(self) -> None:
        """A task file whose directory disagrees with its state field was moved by hand while no
        hub ran: a retry or re-prioritise is carried out; any other move is put back."""
        for task_id in self._misplaced:
            mark = self.journal.savepoint()
            try:
                self._place(task_id)
            except Exception:  # one task's boundary: it stays where it was found, the hub starts
                self.journal.rewind(mark)
                log.exception("could not put %s back where its state says", task_id)
        self._misplaced.clear()

    def _place(self, task_id: str) -> None:
        record = self.view.get(task_id)
        doc, here = record.task, record.loc
        was = State.from_label(doc["state"])
        recorded = location(was, task_id, lane=doc.get("priority"), agent=doc.get("agent"),
                            when=parse_time(doc["finished_at"]) if doc.get("finished_at") else self.clock())
        why = ALLOWED_MOVES.get((was, here.state))
        if why:
            m = move(doc, recorded, State.QUEUED, self.clock(), lane=here.lane,
                     reason=f"{why} by a commit made while the hub was down")
            self.journal.stage({here.path: dump(m.task)}, message(m.transition))
            self.journal.track(m.new, m.task)
        else:
            self.journal.stage({here.path: None, recorded.path: Entry(recorded.path, record.oid, MODE_FILE)},
                             event_message(f"restore {recorded.path}",
                                           f"moved to {here.path} by hand, which is not allowed"))
            self.journal.track(recorded, doc)

    # --- after a push ----------------------------------------------------------------------

    def ingest(self, changes: list[Change], source: str) -> None:
        """Apply the verdicts on a foreign commit range, one commit per task affected."""
        # settings first, so files in the same push are judged by them, as the hook judged them
        for verdict in sorted(judge(changes), key=lambda v: v.kind is not Kind.CONFIG):
            self._arrived(verdict, source)

    def _arrived(self, v: Verdict, source: str) -> None:
        mark = self.journal.savepoint()
        try:
            if v.kind is Kind.SUBMIT:
                self._submit_file(v, source)
            elif v.kind is Kind.MOVE:
                self._human_move(v, source)
            elif v.kind is Kind.CONFIG:
                self._config_changed(v, source)
            elif v.kind is Kind.ILLEGAL:
                self._repair(v, source)
            return
        except AgentcomError as e:
            why = str(e)
        except Exception as e:  # one file's boundary: a file the hub cannot take in must not stop it
            log.exception("could not take in %s", v.path)
            why = f"the hub could not take this file in ({type(e).__name__}); it is kept here for a human"
        self.journal.rewind(mark)
        try:
            self._repair(Verdict(Kind.ILLEGAL, v.path, v.old, v.new, v.task_id, why), source)
        except Exception:  # nothing more can be done for it here: leave it where it is, keep going
            self.journal.rewind(mark)
            log.exception("could not move %s to rejected/; it stays where it is", v.path)

    def _submit_file(self, v: Verdict, source: str) -> None:
        git = self.git
        size = git.repo.odb.read_header(v.new.oid)[1] if v.new.mode != MODE_COMMIT else 0
        limit = self.applied.config.limits.task_bytes
        try:
            if size > limit:
                raise InvalidTask(v.path, [f"file is {size} bytes; the limit is {limit}"])
            doc = load(git.read(v.new.oid), v.path, limit)
            self.tasks.submit(doc, source, where=v.path, lane=lane_of_submission(v.path), remove=v.path)
        except InvalidTask as e:
            self._reject(v.new, e.problems, source)

    def _human_move(self, v: Verdict, source: str) -> None:
        record = self.view.at(v.old.path)
        new_loc = parse_location(v.path)
        if record is None:
            raise AgentcomError(f"{v.old.path} is not a task the coordinator knows")
        task = record.task if record.task is not None else self.tasks.load_task(record)
        m = move(task, record.loc, State.QUEUED, self.clock(), lane=new_loc.lane,
                 reason=f"{v.reason} by {source}")
        self.journal.observe(task, m.task, record.loc.state, State.QUEUED, self.clock())
        self.journal.stage({v.path: dump(m.task)}, message(m.transition))
        self.journal.track(m.new, m.task)

    def _config_changed(self, v: Verdict, source: str) -> None:
        try:
            if v.path == RULES_FILE:
                parse_rules(self.git.read(v.new.oid), v.path)  # checked only: no reviewer runs yet
                return
            # a key only the hub's machine may set is left out, and shown until the file is fixed
            self.applied.config, self.applied.error = parse_applied(self.git.read(v.new.oid))
        except ConfigError as e:
            raise AgentcomError(str(e)) from None

    def _load_config(self, tree) -> None:
        entry = self.git.get(tree, CONFIG_FILE)
        try:
            self.applied.config, self.applied.error = parse_applied(self.git.read(entry.oid) if entry else b"")
        except ConfigError as e:
            self.applied.error = str(e)  # keep the last good settings; shown by status

    def _repair(self, v: Verdict, source: str) -> None:
        """Undo a change the rules forbid: the old file is put back, the new one kept in rejected/
        (a path git will not check out is never put back: it goes, its content kept)."""
        edits = {}
        if v.old is not None and not unsafe_path(v.path):
            edits[v.path] = v.old
        elif v.new is not None:
            edits[v.path] = None
        if v.new is not None:
            self._reject(v.new, [v.reason], source, extra=edits)
        elif edits:
            self.journal.stage(edits, event_message(f"restore {v.path}", f"{v.reason} (by {source})"))

    def _reject(self, entry: Entry, problems: list[str], source: str, extra: dict | None = None) -> None:
        now = self.clock()
        kept, reason_path = rejected_paths(entry.path, f"{now:%Y%m%dT%H%M%S}-{str(entry.oid)[:8]}")
        reason = {"file": entry.path, "rejected_at": format_time(now), "source": source,
                  "problems": problems}
        edits = dict(extra or {entry.path: None})
        if entry.mode == MODE_COMMIT:
            reason["problems"] = problems + [f"it was a submodule pointing at commit {entry.oid}"]
        else:
            edits[kept] = Entry(kept, entry.oid, MODE_FILE)  # a symlink is kept as its target text
            if entry.mode == MODE_LINK:
                reason["problems"] = problems + ["it was a symlink; its target is kept as the file's text"]
        edits[reason_path] = dump_any(reason)
        stem = kept.rsplit("/", 1)[-1]
        self.journal.stage(edits, message(Transition(stem, _from(entry.path), State.REJECTED.label, None, 0,
                                                   "; ".join(reason["problems"]))))
        self.journal.track_rejection(kept, reason)


def _from(path: str) -> str:
    state = state_of(path)
    return state.label if state else path


