"""The pull-request gatekeeper: judges each agent's pull request and records the decision.

Pure modules (no I/O, no clock, no randomness of their own; a test scans their imports):
rules, findings, patch, secretscan, manifests, untrusted, checks, diffscan, verdict, record.
The reviewer that reads pull requests and acts on verdicts through a forge is not built yet.
"""
