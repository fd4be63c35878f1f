"""The embedded stack: the pipeline's AWS services, Lambda dispatch, event sources, model endpoint and API on one machine."""
