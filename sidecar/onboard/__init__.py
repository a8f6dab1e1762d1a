"""Onboarding: `add-agent` and `remove-agent` set an agent up on its machine or take it away
(`onboarding`), step by step (`steps`): its identity (`enrol`), a service to keep it running
(`systemd`, `crontab`, or a detached process, `detach`) and a self-test (`verify`). It builds on
the runtime; the runtime never imports it.
"""
