"""A whole local fleet, for `agentcom demo` and `agentcom smoke` (`cli`): a hub process, sidecars
and the built-in demo agent on this machine (`local`). A harness: nothing else imports it.
"""
