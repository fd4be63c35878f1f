"""What runs on the user's side: the `inspection-app` CLI, the API client and the embedded stack."""
