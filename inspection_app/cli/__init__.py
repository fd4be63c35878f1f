"""`inspection-app`: one module per group of commands (stack, model, inspection, deploy, SageMaker); `main` in
`main.py` parses the command line and turns every error the user has to fix into `error: <message>`."""
from .main import main

__all__ = ["main"]
