# Optional container for the mediastack API key. Terraform creates the secret
# but never a version: the operator stores the value with the AWS CLI
# (docs/deploy-aws.md), so it never enters Terraform state or plans.

resource "aws_secretsmanager_secret" "mediastack" {
  #checkov:skip=CKV2_AWS_57:A third-party API key is issued by mediastack; there is no API to rotate it automatically. Rotation is the documented manual put-secret-value.
  count = var.create_mediastack_secret ? 1 : 0

  name                    = "${var.name}/${var.environment}/mediastack"
  description             = "NewsRead mediastack API key. SecretString: {\"access_key\":\"...\"}. Set with aws secretsmanager put-secret-value."
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}
