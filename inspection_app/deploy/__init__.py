"""Deploying to AWS with one command, and taking it down again.

`inspection-app deploy --stage dev` does what `chalice deploy` alone cannot:

1. creates or updates the resource stack `statemachine/resources.yaml` (bucket, queues, table, topic, state
   machine, log groups) with the state machine definition inlined from `statemachine/inspection.asl.json`;
2. writes the stack's outputs into the stage's environment variables in `.chalice/config.json`, and one
   least-privilege IAM policy per function into `.chalice/policy-<stage>-<function>.json`;
3. runs `chalice deploy --stage <stage>` (app.py reads the trigger's queue, UPLOAD_QUEUE_NAME, from the stage);
4. switches on ReportBatchItemFailures on the starter's SQS event source mapping (Chalice never does);
5. creates the usage plan and an API key for the REST API (every route has `api_key_required=True`), and
   gives API Gateway's own error answers (unknown route, bad key, throttling) the app's error shape.

MODEL_INPUT_SIZE comes from the model alone: its model directory's model.json (`--model-dir`) or the tag
`inspection-app sagemaker deploy` puts on the endpoint (INPUT_SIZE_TAG); the stack keeps it as a parameter.

Nothing refers back in a circle: every name derives from the app name and the stage, so the stack names
the functions Chalice is about to create (`<app>-<stage>-<handler>`), and Chalice gets the stack's outputs.

The second, one-stack path is `chalice package --merge-template statemachine/chalice-merge.json out/`; that
template is generated here too (`python -m inspection_app.deploy.merge_template`) from the same policies.

`deployment` runs the steps (`deploy`, `destroy`); each of the other modules is one thing they need.
"""
