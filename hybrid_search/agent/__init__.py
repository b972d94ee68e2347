"""Code search for coding agents: one JSON schema (schema.py), several folders searched as one and related code
(search.py), and the MCP server (server.py). Kept light: the CLI imports this package's constants at start."""

# Lines of code shown per unit when none is asked for: enough to recognise a function, short enough that ten
# results stay near 7 KB of JSON (docs/agents.md). The whole unit is `start_line`-`end_line` of `file`.
SNIPPET_LINES = 12
