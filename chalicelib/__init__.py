"""Everything the Lambda functions run. `app.py` only wires these modules to Chalice decorators."""
