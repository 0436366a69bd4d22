"""AWS deployment: settings and wiring for the Lambda functions (DynamoDB, SQS, SageMaker)."""
