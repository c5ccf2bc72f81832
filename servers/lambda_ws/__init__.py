"""servers/lambda_ws."""
