"""The pull-request gatekeeper: judges each agent's pull request and records the decision.

Pure modules (no I/O, no clock, no randomness of their own; a test scans their imports):
rules, findings, patch, secretscan, manifests, untrusted, checks, diffscan, verdict, record.
With I/O: reviewer (reads pull requests and acts on verdicts through a forge), books (where its
decisions go: the hub, in this process or over HTTP), alerts (the operator's notice), service
(the hub's review thread), setup (its settings, from the hub's machine only), secretfiles (the
secret folder, and reading a secret), command (`agentcom gatekeeper`).
"""
