"""One module per command (group). Each exposes ``app`` (a Typer group) or ``command`` (a function).

``sfuctl.cli.COMMANDS`` lists them; the name is the module's ``NAME`` or else its own name.
"""
