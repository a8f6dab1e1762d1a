"""The pure core: no I/O, no clock, no randomness of its own (time and random generators are
arguments). The task format and layout, commit trailers and the history seal, the push rules,
the state machine, the view, the scheduler and scope overlap, the sweeper, retries, the ledger, the snapshot, and
the PR and decision records. It imports only itself and the wire's pure modules (errors, times,
plain, protocol, jsonbody). `task` reads its JSON Schema once at import; nothing else reads.
"""
