"""A local Exchange Web Services server that exchangelib cannot tell from Exchange.

Start it from the command line (`python -m ews_sandbox serve --json`) or in-process:

    from ews_sandbox import Sandbox
    with Sandbox(db_path="state.db") as sandbox:
        print(sandbox.ews_url)
"""


def __getattr__(name):  # the server's imports cost time: load them when used
    if name == "Sandbox":
        from .sandbox import Sandbox
        return Sandbox
    raise AttributeError(name)
