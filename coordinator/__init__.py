"""AgentCom's coordinator: the hub that is the only writer of the coordination repo.

One folder per layer; a layer imports only the layers above it in this list (tests/test_layers.py
checks it, in a fresh interpreter, for everything a module loads):

  wire        the contract a sidecar or any client may use: errors, times, plain data, the
              protocol, JSON bodies, the bounded HTTP server, the HTTP client
  core        pure: the task format, layout, trailers, the view, the scheduler, the sweeper, ...
  gatekeeper  pure: the pull-request gatekeeper's rules, diff scan and verdict
  repo        the only code that touches the repo directory: git, the store, the lock, tokens
  forge       where pull requests live: the protocol, GitHub, the local forge
  hub         the only writer: the loop, intake, the fleet, the PR and review books
  web         the Flask app over the hub (never the store or git)
  reviewer    the gatekeeper's I/O half: reads pull requests, acts on verdicts
  cli         the verbs and the processes (`agentcom hub`, `agentcom gatekeeper`)
"""

__version__ = "0.2.0"  # the project's release; `agentcom --version` prints it
