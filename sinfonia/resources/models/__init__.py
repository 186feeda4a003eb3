from sinfonia.resources.models.access import AccessEntry, Level
from sinfonia.resources.models.node import CONTAINERS, Kind, Node
from sinfonia.resources.models.trash import TrashItem

__all__ = ["CONTAINERS", "AccessEntry", "Kind", "Level", "Node", "TrashItem"]
