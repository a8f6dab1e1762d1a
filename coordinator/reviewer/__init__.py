"""The gatekeeper's I/O half: reads a pull request, its files and checks through a forge, runs the
pure verdict (coordinator/gatekeeper), then merges, labels, comments, notifies and records the
decision through the hub (`books`). Its settings come from the hub's machine only (`options`,
`secretfiles`). It runs outside the hub's loop. It never names the store or git.
"""
