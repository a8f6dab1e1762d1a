"""The hub: the only writer. One serial loop runs every change (`hub`), takes pushes in
(`intake`), keeps the agents and their work (`fleet`), counts what happened (`overview`), keeps
the local forge's PR records and the gatekeeper's decisions (`prbook`, `reviewbook`, `prmerge`),
registers agents (`registration`), pokes sidecars (`pokes`) and watches for pushes (`watcher`).
It imports the layers below it (wire, core, gatekeeper, repo, forge); never web, reviewer or cli.
"""
