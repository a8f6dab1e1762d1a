"""Push events: the post-receive hook touches agentcom/pushed; this turns that into a hub nudge."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

PUSHED = "pushed"


class _Handler(FileSystemEventHandler):
    def __init__(self, on_push: Callable[[], None]):
        self.on_push = on_push

    def on_any_event(self, event: FileSystemEvent) -> None:
        if Path(str(event.src_path)).name == PUSHED and event.event_type in ("created", "modified", "closed"):
            self.on_push()


def watch_pushes(runtime_dir: Path, on_push: Callable[[], None]) -> Observer:
    """Start watching; call .stop() and .join() on the result to end it."""
    observer = Observer()
    observer.schedule(_Handler(on_push), str(runtime_dir), recursive=False)
    observer.daemon = True
    observer.start()
    return observer
