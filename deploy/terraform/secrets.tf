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

# The web servers' own database credential (least privilege), same JSON shape
# as the RDS-managed master secret: {"username": "...", "password": "..."}.
# Terraform generates the first password with Secrets Manager's
# GetRandomPassword as an ephemeral value and writes it write-only, so it is
# in neither the plan nor the state. `newsread migrate` (the migration unit on
# each instance, with the master secret) creates or updates the role from this
# secret; `newsread rotate-db-credential` rotates it (docs/deploy-aws.md).
ephemeral "aws_secretsmanager_random_password" "db_app" {
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "db_app" {
  #checkov:skip=CKV2_AWS_57:Rotated by `newsread rotate-db-credential` (ALTER ROLE with the master credential, then PutSecretValue), run from SSM on a schedule documented in docs/deploy-aws.md; a rotation Lambda would need the database network path and its own code.
  name_prefix             = "${var.name}/${var.environment}/db-app-"
  description             = "NewsRead web servers' database credential (role ${var.db_app_username}). SecretString: {\"username\":\"...\",\"password\":\"...\"}."
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "db_app" {
  secret_id = aws_secretsmanager_secret.db_app.id
  secret_string_wo = jsonencode({
    username = var.db_app_username
    password = ephemeral.aws_secretsmanager_random_password.db_app.random_password
  })
  # Written once; rotation replaces the value outside Terraform. Bump only to
  # force a new Terraform-generated password (the next boot's migration
  # re-applies it to the role).
  secret_string_wo_version = 1
}
