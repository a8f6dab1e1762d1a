<<<<<<< HEAD
"""A development harness: a whole fleet on this machine (`local`: a hub process, agents, one
sidecar process each), `agentcom demo` with its demo agent, and `agentcom smoke` with its
report. It may use anything; nothing else in the sidecar imports it.
=======
"""A whole local fleet, for `agentcom demo` and `agentcom smoke` (`cli`): a hub process, sidecars
and the built-in demo agent on this machine (`local`). A harness: nothing else imports it.
>>>>>>> split
"""
