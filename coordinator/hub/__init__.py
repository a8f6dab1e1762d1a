"""The hub: the only writer. `Hub` (`hub`) builds its components and runs every change through one
serial loop; every write needs the loop's `Batch` handle (`batch`). The components: task files
and their moves (`tasks`), agents, heartbeats, reports and the scheduling pass (`fleet`), pushes
taken in (`intake`), the ledger and the snapshot (`overview`), the local forge's PR records and
the gatekeeper's decisions (`prbook`, `reviewbook`, with `prtarget` and `prmerge` for the target
repo), and the gatekeeper's own health conditions (`gatehealth`). Also agent registration
(`registration`), pokes to sidecars (`pokes`) and the push watcher (`watcher`). It imports the
layers below it (wire, core, gatekeeper, repo, forge); never web, reviewer or cli.
"""
