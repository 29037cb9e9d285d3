"""The demo publication behind ``flask demo``: articles, tags, comments, shop and history.

Importing this package reads no file and touches no database; ``load_demo`` does both.
"""

from shop.demo.loader import DemoResult, load_demo

__all__ = ["DemoResult", "load_demo"]
