"""The only code that touches the coordination repo's directory: git (`gitrepo`, and `branches`
for a target repo's pull requests), the one writer (`store`), the single-writer lock and atomic
writes (`lock`), tokens, the history key, `agentcom init` (`repoinit`) and the push check.
"""
