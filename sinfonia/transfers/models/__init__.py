from sinfonia.transfers.models.operation import Operation, Status
from sinfonia.transfers.models.upload import Upload

__all__ = ["Operation", "Status", "Upload"]
