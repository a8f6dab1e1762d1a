"""The only code that touches the coordination repo's directory: git (`gitrepo`, the only module
that runs git, `branches` for a target repo's pull requests, and `checkout`, a
disposable checkout for a check), the store (the only writer of
commits), the single-writer lock, the history key, tokens, the sidecars' notify addresses kept
for the next hub (`addresses`), `agentcom init` (`repoinit`), the push check the pre-receive
hook runs (`pushcheck`) and a local target's protecting hook (`targethook`). It imports the pure
layers below it, never the hub, the web or the CLI.
"""
