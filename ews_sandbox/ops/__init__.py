"""EWS operations, one module per family; each module exports OPERATIONS, a dict from
operation name to a handler `handler(ctx, request_element) -> response element`."""
import importlib
import pkgutil


def load_operations():
    operations = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        operations.update(getattr(module, "OPERATIONS", {}))
    return operations
