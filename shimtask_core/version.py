"""The release and the plugin API version: a leaf, so that reading them imports nothing.

``API_VERSION`` is what executors declare a range of (``requires_api`` on the
class, ``shimtask-api=MIN..MAX`` in their metadata); it changes only when the
contract between the core and its plugins does.
"""

#: The release of shimtask-core.
__version__ = "0.1.0"

#: The plugin API version; executors declare the range they need in ``requires_api``.
API_VERSION = 1
