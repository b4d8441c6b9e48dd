# The project's only test setup: the EWS sandbox's pytest plugin.
pytest_plugins = ["ews_sandbox.pytest_plugin"]
