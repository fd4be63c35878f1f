"""The one base of the errors a person fixes by changing what they gave training: a dataset, a model
directory, a SageMaker request.

`training` knows nothing of the command line (and the SageMaker job ships it alone), so this is its own
base: `inspection-app` turns every such error into `error: <message>` and exit status 2.
"""


class TrainingInputError(Exception):
    """What was given cannot be used as it is; the message names it and says what to do."""
