"""The pull-request gatekeeper's pure half: how an agent's pull request is judged.

Pure modules (no I/O, no clock, no randomness of their own; tests/test_layers.py checks):
rules, findings, patch, secretscan, manifests, untrusted, checks, diffscan, verdict, record,
protection.
They import only themselves, the pure core and the wire's pure modules. What acts on a verdict
(reads pull requests, merges, comments, notifies) is in coordinator/reviewer.
"""
