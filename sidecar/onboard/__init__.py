"""Onboarding: `add-agent` and `remove-agent` (`cli`, `onboarding`) register an agent on the hub,
write its sidecar config, run the sidecar as a service (`systemd`, or `detach` plus `crontab`) and
prove the path with a self-test (`verify`); each step printed as it passes (`steps`). It builds on
the runtime; the runtime never imports it.
"""
