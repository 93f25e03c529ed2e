"""The runtime's bundle error, below both ``bundle.py`` and the family registry.

``bundle.load_bundle`` asks the registry (``families``) for a bundle's family and the registry's
``UnknownFamilyError`` is a ``BundleError``: the class lives here so that neither module imports
the other in a circle (``test/test_import_cycles.py``). ``video_perception.bundle`` re-exports it;
import it from there.
"""


class BundleError(ValueError):
    """A bundle that cannot be used; the message names the file and what was expected."""
