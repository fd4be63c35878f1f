"""The error every deploy step raises for something the user has to fix."""
from __future__ import annotations

from ..errors import UserError


class DeployError(UserError):
    """The deployment cannot go on until the user fixes something; the message says what."""
