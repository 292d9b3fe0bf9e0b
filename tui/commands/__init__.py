"""What the CLI's commands do, one module per group: each command's handler, an ``async
(args, console) -> int``, with what it shares with the others.

:mod:`tui.parsers` builds the command line and names these handlers; a module here is
imported only when one of its commands runs: ``shopfloor status`` loads the history module
and the store, not the composition root with every provider, gate and exporter a run wires
up, and ``shopfloor --help`` loads none of them.
"""
